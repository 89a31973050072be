package exportertest

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Tests of other packages, run beside an exporter's, load and unload BPF
// programs of the same names. So these helpers tell an exporter's BPF
// objects from theirs by the IDs that the exporter's process holds, and
// count a program as left behind only when no process holds it. They need
// root.

// BPFObjects are sets of BPF object IDs.
type BPFObjects struct {
	Programs map[ebpf.ProgramID]bool
	Links    map[link.ID]bool
	Maps     map[ebpf.MapID]bool
}

// HeldBPF returns the IDs of the BPF programs, links and maps that pid holds
// file descriptors of, read from /proc/<pid>/fdinfo. A link's program counts
// as held.
func HeldBPF(pid int) (BPFObjects, error) {
	held := BPFObjects{Programs: map[ebpf.ProgramID]bool{}, Links: map[link.ID]bool{}, Maps: map[ebpf.MapID]bool{}}
	proc := filepath.Join("/proc", strconv.Itoa(pid))
	fds, err := os.ReadDir(filepath.Join(proc, "fd"))
	if err != nil {
		return held, fmt.Errorf("listing file descriptors: %w", err)
	}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(proc, "fd", fd.Name()))
		if err != nil || !strings.HasPrefix(target, "anon_inode:bpf") {
			continue // closed since ReadDir, or not a BPF object
		}
		fields, err := fdinfo(filepath.Join(proc, "fdinfo", fd.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return held, err
		}
		if id, ok := fields["prog_id"]; ok {
			held.Programs[ebpf.ProgramID(id)] = true
		}
		if id, ok := fields["link_id"]; ok {
			held.Links[link.ID(id)] = true
		}
		if id, ok := fields["map_id"]; ok {
			held.Maps[ebpf.MapID(id)] = true
		}
	}
	return held, nil
}

// fdinfo returns the numeric fields of a /proc/<pid>/fdinfo/<fd> file.
func fdinfo(path string) (map[string]uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fields := map[string]uint32{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		key, value, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(value), 10, 32); err == nil {
			fields[key] = uint32(n)
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return fields, nil
}

// LoadedPrograms returns the kernel name of every loaded BPF program, by ID.
func LoadedPrograms() (map[ebpf.ProgramID]string, error) {
	progs := map[ebpf.ProgramID]string{}
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			return progs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing programs after %d: %w", id, err)
		}
		id = next
		name, err := programName(id)
		if errors.Is(err, os.ErrNotExist) {
			continue // unloaded since ProgramGetNextID
		}
		if err != nil {
			return nil, err
		}
		progs[id] = name
	}
}

func programName(id ebpf.ProgramID) (string, error) {
	prog, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return "", fmt.Errorf("opening program %d: %w", id, err)
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return "", fmt.Errorf("reading program %d: %w", id, err)
	}
	return info.Name, nil
}

// ProgramNames returns the names that loaded (see LoadedPrograms) gives the
// programs ids, sorted; "" for one it lacks.
func ProgramNames(loaded map[ebpf.ProgramID]string, ids map[ebpf.ProgramID]bool) []string {
	names := make([]string, 0, len(ids))
	for id := range ids {
		names = append(names, loaded[id])
	}
	slices.Sort(names)
	return names
}

// LinkedPrograms returns the programs that links attach.
func LinkedPrograms(links map[link.ID]bool) (map[ebpf.ProgramID]bool, error) {
	progs := map[ebpf.ProgramID]bool{}
	for id := range links {
		l, err := link.NewFromID(id)
		if err != nil {
			return nil, fmt.Errorf("opening link %d: %w", id, err)
		}
		info, err := l.Info()
		l.Close()
		if err != nil {
			return nil, fmt.Errorf("reading link %d: %w", id, err)
		}
		progs[info.Program] = true
	}
	return progs, nil
}

// StillLoaded returns an error naming each object of objs that the kernel
// still has, nil when it has none of them.
func StillLoaded(objs BPFObjects) error {
	var loaded []string
	for id := range objs.Programs {
		if exists(ebpf.NewProgramFromID(id)) {
			loaded = append(loaded, fmt.Sprintf("program %d", id))
		}
	}
	for id := range objs.Links {
		if exists(link.NewFromID(id)) {
			loaded = append(loaded, fmt.Sprintf("link %d", id))
		}
	}
	for id := range objs.Maps {
		if exists(ebpf.NewMapFromID(id)) {
			loaded = append(loaded, fmt.Sprintf("map %d", id))
		}
	}
	if len(loaded) > 0 {
		slices.Sort(loaded)
		return fmt.Errorf("still loaded after the exporter exited: %v", loaded)
	}
	return nil
}

// exists closes what a New...FromID returned and reports whether it found
// the object.
func exists[T interface{ Close() error }](obj T, err error) bool {
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	obj.Close()
	return true
}

// Unowned returns an error naming every program called one of names that is
// loaded now, was not in before (see LoadedPrograms) and that no process
// holds: one the kernel keeps alive for nobody, such as a program pinned or
// attached without a link.
func Unowned(before map[ebpf.ProgramID]string, names []string) error {
	now, err := LoadedPrograms()
	if err != nil {
		return err
	}
	owned, err := heldByAnyProcess()
	if err != nil {
		return err
	}
	var left []string
	for id, name := range now {
		if _, old := before[id]; !old && !owned[id] && slices.Contains(names, name) {
			left = append(left, fmt.Sprintf("%d %s", id, name))
		}
	}
	if len(left) > 0 {
		slices.Sort(left)
		return fmt.Errorf("programs loaded with no process holding them: %v", left)
	}
	return nil
}

// heldByAnyProcess returns the programs that some process holds.
func heldByAnyProcess() (map[ebpf.ProgramID]bool, error) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	held := map[ebpf.ProgramID]bool{}
	for _, proc := range procs {
		pid, err := strconv.Atoi(proc.Name())
		if err != nil {
			continue
		}
		objs, err := HeldBPF(pid)
		if err != nil {
			continue // exited since ReadDir
		}
		for id := range objs.Programs {
			held[id] = true
		}
	}
	return held, nil
}

// CheckSIGTERMReleasesBPF checks that the running exporter p holds exactly
// the programs want (sorted names), none of them loaded before it started
// (before, from LoadedPrograms), each attached by one link of its own, and
// at least one map; then that SIGTERM makes it exit 0 and that every
// program, link and map it held is released, and no program of those
// names is left loaded without an owner.
func CheckSIGTERMReleasesBPF(tb testing.TB, p *Process, before map[ebpf.ProgramID]string, want []string) {
	tb.Helper()
	held, err := HeldBPF(p.Pid())
	if err != nil {
		tb.Fatal(err)
	}
	running, err := LoadedPrograms()
	if err != nil {
		tb.Fatal(err)
	}
	if got := ProgramNames(running, held.Programs); !slices.Equal(got, want) {
		tb.Errorf("exporter holds programs %v, want %v", got, want)
	}
	for id := range held.Programs {
		if name, ok := before[id]; ok {
			tb.Errorf("exporter holds program %d %q, loaded before it started", id, name)
		}
	}
	// A program attached without a link would outlive the exporter.
	linked, err := LinkedPrograms(held.Links)
	if err != nil {
		tb.Fatal(err)
	}
	if len(held.Links) != len(held.Programs) || !maps.Equal(linked, held.Programs) {
		tb.Errorf("exporter holds %d links to programs %v, want one link to each of %v",
			len(held.Links), slices.Sorted(maps.Keys(linked)), slices.Sorted(maps.Keys(held.Programs)))
	}
	if len(held.Maps) == 0 {
		tb.Error("exporter holds no BPF map")
	}

	if code := p.Terminate(tb); code != 0 {
		tb.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	Eventually(tb, func() error { return StillLoaded(held) })
	Eventually(tb, func() error { return Unowned(before, want) })
}
