// Package bpfload loads a collector's BPF objects into the kernel, attaches
// every program by its ELF section, reports its programs and maps as
// self-metrics, and owns what it loaded until Close.
//
// Its Loader is an exporter component (Component, "bpf"), so that only
// eBPF exporters link cilium/ebpf; collectors get it with FromEnv.
//
// Supported hooks: tp_btf/<tracepoint> (kernel BTF needed), raw_tp/<name>,
// tracepoint/<group>/<name> (tracefs is mounted at /sys/kernel/tracing when
// it is missing), and cgroup_skb/ingress|egress on the cgroup given with
// CgroupRoot. Programs of other types are loaded but left for the caller to
// attach (Set.Program).
package bpfload

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// TracefsPath is where tracefs is mounted when it is missing.
const TracefsPath = "/sys/kernel/tracing"

// Set is one collector's loaded BPF objects and their links.
type Set struct {
	objs     interface{ Close() error }
	links    []link.Link
	programs map[string]*ebpf.Program
	self     *Loader
	stops    []func()
}

// Load loads spec, attaches each of its programs, then assigns the loaded
// programs and maps to objs (a pointer to a bpf2go Objects struct, or any
// struct with `ebpf:"name"` tags; it must implement Close). On error
// everything loaded so far is released and each program that could not be
// attached is reported detached; an error that the host cannot support
// (cilium/ebpf's ErrNotSupported, a missing kernel BTF) wraps
// errors.ErrUnsupported, so that the scaffold does not retry it. The caller
// owns the Set and must Close it.
func (l *Loader) Load(spec *ebpf.CollectionSpec, objs interface{ Close() error }, opts ...Option) (*Set, error) {
	set, err := l.load(spec, objs, opts...)
	return set, markUnsupported(err)
}

// markUnsupported makes an error that says the host lacks a feature match
// errors.ErrUnsupported too, keeping its message.
func markUnsupported(err error) error {
	var perm *permissionError
	if errors.As(err, &perm) {
		return err // a privilege the pod may be given: retried, never "unsupported"
	}
	if errors.Is(err, ebpf.ErrNotSupported) && !errors.Is(err, errors.ErrUnsupported) {
		return unsupportedError{err}
	}
	return err
}

// unsupportedError is an error that is also errors.ErrUnsupported.
type unsupportedError struct{ error }

func (e unsupportedError) Is(target error) bool { return target == errors.ErrUnsupported }

func (e unsupportedError) Unwrap() error { return e.error }

func (l *Loader) load(spec *ebpf.CollectionSpec, objs interface{ Close() error }, opts ...Option) (*Set, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if needsKernelBTF(spec) {
		// Checked first, so that a host without usable BTF says so, rather
		// than whichever program happened to load first failing obscurely.
		if _, err := btf.LoadKernelSpec(); err != nil {
			// A kernel without BTF wraps ErrNotSupported (not retried); an
			// unreadable one is retried.
			reportAll(l, spec, false)
			return nil, fmt.Errorf("kernel BTF (/sys/kernel/btf/vmlinux): %w", err)
		}
	}
	l.mu.Lock()
	for name, n := range l.maxEntries {
		if m, ok := spec.Maps[name]; ok {
			m.MaxEntries = n
		}
	}
	l.mu.Unlock()
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{})
	if err != nil {
		reportAll(l, spec, false)
		if perr := withCapabilities(spec, "loading BPF objects", err); perr != err {
			return nil, perr
		}
		return nil, fmt.Errorf("loading BPF objects: %w", err)
	}
	s := &Set{programs: make(map[string]*ebpf.Program), self: l}
	if err := withCapabilities(spec, "attaching BPF programs", s.attachAll(spec, coll, o)); err != nil {
		s.closeLinks()
		coll.Close()
		reportAll(l, spec, false)
		return nil, err
	}
	for name, p := range coll.Programs {
		s.programs[name] = p
	}
	if err := coll.Assign(objs); err != nil {
		s.closeLinks()
		coll.Close()
		reportAll(l, spec, false)
		return nil, fmt.Errorf("assigning BPF objects: %w", err)
	}
	coll.Close() // what Assign left: maps no field names, such as .rodata
	s.objs = objs
	for name, p := range s.programs {
		l.ProgramAttached(name, true)
		s.stops = append(s.stops, l.watchProgram(name, p))
	}
	// Loading parsed the kernel's BTF (tens of megabytes, partly a mapping of
	// /sys/kernel/btf/vmlinux) and the collection's ELF: give that memory
	// back now rather than keep it resident until the heap grows again.
	debug.FreeOSMemory()
	return s, nil
}

// needsKernelBTF reports whether a program of spec attaches by BTF id or
// relocates field accesses with CO-RE.
func needsKernelBTF(spec *ebpf.CollectionSpec) bool {
	for _, p := range spec.Programs {
		if p.Type == ebpf.Tracing {
			return true
		}
		for i := range p.Instructions {
			if btf.CORERelocationMetadata(&p.Instructions[i]) != nil {
				return true
			}
		}
	}
	return false
}

// Option configures Load.
type Option func(*options)

type options struct {
	cgroup string
}

// CgroupRoot attaches cgroup_skb programs to the cgroup directory path
// (usually the cgroup v2 root, so that every socket on the host is seen).
func CgroupRoot(path string) Option {
	return func(o *options) { o.cgroup = path }
}

func (s *Set) attachAll(spec *ebpf.CollectionSpec, coll *ebpf.Collection, o options) error {
	names := make([]string, 0, len(coll.Programs))
	for name := range coll.Programs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		l, err := attach(spec.Programs[name], coll.Programs[name], o)
		if err != nil {
			return fmt.Errorf("attaching %s: %w", name, err)
		}
		if l != nil {
			s.links = append(s.links, l)
		}
	}
	return nil
}

// attach attaches prog by its section; it returns a nil link for programs
// whose hook needs a target the section does not name.
func attach(spec *ebpf.ProgramSpec, prog *ebpf.Program, o options) (link.Link, error) {
	section := spec.SectionName
	switch {
	case spec.Type == ebpf.CGroupSKB:
		if o.cgroup == "" {
			return nil, fmt.Errorf("%s program needs a cgroup to attach to (CgroupRoot)", section)
		}
		return link.AttachCgroup(link.CgroupOptions{Path: o.cgroup, Attach: spec.AttachType, Program: prog})
	case spec.Type == ebpf.Tracing && spec.AttachType == ebpf.AttachTraceRawTp:
		return link.AttachTracing(link.TracingOptions{Program: prog})
	case spec.Type == ebpf.RawTracepoint:
		_, name, _ := strings.Cut(section, "/")
		return link.AttachRawTracepoint(link.RawTracepointOptions{Name: name, Program: prog})
	case spec.Type == ebpf.TracePoint:
		parts := strings.Split(section, "/")
		if len(parts) != 3 {
			return nil, fmt.Errorf("section %q is not tracepoint/<group>/<name>", section)
		}
		if err := EnsureTracefs(); err != nil {
			return nil, err
		}
		return link.Tracepoint(parts[1], parts[2], prog, nil)
	}
	return nil, nil
}

// EnsureTracefs mounts tracefs at TracefsPath unless a tracefs is already
// reachable there or under debugfs.
func EnsureTracefs() error {
	for _, p := range []string{TracefsPath, "/sys/kernel/debug/tracing"} {
		_, err := os.Stat(p + "/events")
		if err == nil {
			return nil
		}
		if errors.Is(err, os.ErrPermission) {
			// There, but not ours to read: mounting another would fail
			// with a misleading "operation not permitted".
			return fmt.Errorf("tracefs at %s is not readable by this process (run as root, or grant access to it): %w", p, err)
		}
	}
	if err := unix.Mount("tracefs", TracefsPath, "tracefs", 0, ""); err != nil {
		return fmt.Errorf("mounting tracefs at %s: %w", TracefsPath, err)
	}
	return nil
}

func reportAll(self *Loader, spec *ebpf.CollectionSpec, attached bool) {
	for name := range spec.Programs {
		self.ProgramAttached(name, attached)
	}
}

// Program returns the loaded program called name (its C function name), for
// callers that attach hooks needing a target; nil when absent. The Set keeps
// ownership.
func (s *Set) Program(name string) *ebpf.Program { return s.programs[name] }

// Programs returns the names of the loaded programs.
func (s *Set) Programs() []string {
	names := make([]string, 0, len(s.programs))
	for name := range s.programs {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func (s *Set) closeLinks() error {
	var errs []error
	for _, l := range s.links {
		errs = append(errs, l.Close())
	}
	s.links = nil
	return errors.Join(errs...)
}

// Close detaches every program, closes the objects, and reports the programs
// detached. It is safe to call once.
func (s *Set) Close() error {
	for _, stop := range s.stops {
		stop()
	}
	err := s.closeLinks()
	if s.objs != nil {
		err = errors.Join(err, s.objs.Close())
	}
	for name := range s.programs {
		s.self.ProgramAttached(name, false)
	}
	return err
}
