package hookbench

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// floorVariants are the floor configurations, in the order they run; each
// is the name of its tp_btf program in floor.bpf.c, whose tracepoint
// program is <variant>_tp.
var floorVariants = []string{"floor_percpu", "floor_shared", "floor_hash", "floor_storage", "floor_slot"}

// floor is the floor programs loaded for the hooks of one benchmark: each
// variant once per hook, sharing floor.bpf.c's maps.
type floor struct {
	sections []string                   // the hooks, as the empty programs' sections
	variants []string                   // those loaded, in floorVariants' order
	names    map[string][]string        // by variant: each program's name in the metrics
	progs    map[string][]*ebpf.Program // by variant: one program per hook
}

// loadFloorSet loads the floor programs for the hooks of the empty programs
// named, until tb ends. The floor program on empty_<hook>'s hook is named
// <variant>_<hook> in the metrics. A variant this kernel cannot load (no
// cgroup storage before 6.2) is left out, and logged.
func loadFloorSet(tb testing.TB, e *Empty, hooks []string) *floor {
	tb.Helper()
	spec, err := loadFloor()
	if err != nil {
		tb.Fatal(err)
	}
	maps := map[string]*ebpf.Map{}
	for name, ms := range spec.Maps {
		m, err := ebpf.NewMap(ms)
		if err != nil {
			tb.Logf("floor map %s: %v", name, err)
			continue
		}
		tb.Cleanup(func() { m.Close() })
		maps[name] = m
	}
	f := &floor{names: map[string][]string{}, progs: map[string][]*ebpf.Program{}}
	for _, hook := range hooks {
		target, ok := e.Spec.Programs[hook]
		if !ok {
			tb.Fatalf("no empty program %s", hook)
		}
		f.sections = append(f.sections, target.SectionName)
	}
	for _, v := range floorVariants {
		progs, err := loadVariant(spec, maps, v, e, hooks)
		for _, p := range progs {
			tb.Cleanup(func() { p.Close() })
		}
		if err != nil {
			tb.Logf("floor %s left out: %v", v, err)
			continue
		}
		f.variants = append(f.variants, v)
		f.progs[v] = progs
		for _, hook := range hooks {
			f.names[v] = append(f.names[v], v+"_"+strings.TrimPrefix(hook, "empty_"))
		}
	}
	return f
}

// loadVariant loads variant's program once per hook, on the maps loaded,
// and returns those it loaded.
func loadVariant(spec *ebpf.CollectionSpec, maps map[string]*ebpf.Map, variant string, e *Empty, hooks []string) ([]*ebpf.Program, error) {
	var progs []*ebpf.Program
	for _, hook := range hooks {
		target := e.Spec.Programs[hook]
		name := variant
		if strings.HasPrefix(target.SectionName, "tracepoint/") {
			name += "_tp"
		}
		one := spec.Copy()
		ps := one.Programs[name]
		if ps == nil {
			return progs, fmt.Errorf("no program %s", name)
		}
		ps.AttachTo = target.AttachTo // a tracepoint program's is empty
		one.Programs = map[string]*ebpf.ProgramSpec{name: ps}
		for m := range one.Maps {
			if maps[m] == nil {
				delete(one.Maps, m)
			}
		}
		coll, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{MapReplacements: maps})
		if err != nil {
			return progs, fmt.Errorf("for %s: %w", target.SectionName, err)
		}
		p := coll.DetachProgram(name)
		coll.Close()
		progs = append(progs, p)
	}
	return progs, nil
}

// attach attaches the floor programs of variant on every hook and returns
// them, their names in the metrics, and a function that detaches them.
func (f *floor) attach(tb testing.TB, variant string) ([]*ebpf.Program, []string, func() error) {
	tb.Helper()
	detach, err := attachAll(f.progs[variant], func(i int) string { return f.sections[i] })
	if err != nil {
		tb.Fatalf("%s: %v", variant, err)
	}
	return f.progs[variant], f.names[variant], detach
}
