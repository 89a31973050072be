// Command trimcheck drops its executable's start-up pages with
// pagetrim.Executable, then runs code and reads tables all over its
// executable (formatting, maps, the garbage collector, goroutines, a
// traceback), and prints what was dropped: pagetrim's tests build it as a
// plain, a static and a PIE executable, and run it.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/bpfleet/bpfleet/internal/pagetrim"
)

func main() {
	res, err := pagetrim.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	m := map[string]int{}
	done := make(chan int)
	for i := range 8 {
		go func() {
			s := 0
			for j := range 10000 {
				s += len(fmt.Sprintf("%d-%x-%v", i, j, float64(j)/3))
			}
			done <- s
		}()
	}
	for i := range 8 {
		m[fmt.Sprint(i)] = <-done
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	runtime.GC()
	debug.FreeOSMemory()
	if !strings.Contains(string(debug.Stack()), "main.main") {
		fmt.Fprintln(os.Stderr, "traceback without main.main")
		os.Exit(1)
	}
	fmt.Printf("trimmed=%d skipped=%d keys=%s\n", res.Mappings, res.Skipped, strings.Join(keys, ","))
}
