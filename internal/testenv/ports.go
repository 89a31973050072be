package testenv

import (
	"net"
	"sync"
	"testing"
)

// given are the ports FreePort has handed out in this process: the kernel
// may return a port it has just released, and two servers of one test
// given the same port fail to start.
var given = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreePort returns a loopback TCP port that was free a moment ago and that
// it has not returned before in this process.
func FreePort(tb testing.TB) int {
	tb.Helper()
	given.Lock()
	defer given.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !given.ports[port] {
			given.ports[port] = true
			return port
		}
	}
}
