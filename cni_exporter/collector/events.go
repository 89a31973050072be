package collector

import (
	"bytes"
	"fmt"
	"time"
	"unsafe"
)

// execEvent is the exec of a plugin binary.
type execEvent struct {
	tgid    uint32
	plugin  string // the binary's file name
	command string // one of commands, or "other"
}

// exitEvent is the exit of a plugin process.
type exitEvent struct {
	tgid     uint32
	status   uint32 // wait(2) status
	duration time.Duration
}

// result is success for exit status 0, failure for an exit code or a
// signal.
func (e exitEvent) result() string {
	if e.status == 0 {
		return "success"
	}
	return "failure"
}

// parsePluginEvent decodes a record of plugin_events (struct
// plugin_exec_event or plugin_exit_event, told apart by their common
// struct plugin_event_header) into an execEvent or an exitEvent.
func parsePluginEvent(raw []byte) (any, error) {
	var hdr pluginPluginEventHeader
	if err := decode(raw, &hdr); err != nil {
		return nil, fmt.Errorf("plugin event: %w", err)
	}
	switch hdr.Kind {
	case pluginPluginEventKindPLUGIN_EXEC:
		var ev pluginPluginExecEvent
		if err := decode(raw, &ev); err != nil {
			return nil, fmt.Errorf("exec event: %w", err)
		}
		return parseExec(&ev)
	case pluginPluginEventKindPLUGIN_EXIT:
		var ev pluginPluginExitEvent
		if err := decode(raw, &ev); err != nil {
			return nil, fmt.Errorf("exit event: %w", err)
		}
		return exitEvent{tgid: ev.Hdr.Tgid, status: ev.Status, duration: time.Duration(ev.DurationNs)}, nil
	default:
		return nil, fmt.Errorf("plugin event of kind %d", hdr.Kind)
	}
}

// decode fills *v, a struct that bpf2go generated from the C record (host
// layout, fixed-size fields only), with the start of raw, as the kernel
// wrote it. A copy rather than binary.Read, which walks the 4 KiB of an
// exec event's environment byte by byte.
func decode[T any](raw []byte, v *T) error {
	size := int(unsafe.Sizeof(*v))
	if len(raw) < size {
		return fmt.Errorf("%d bytes, want %d", len(raw), size)
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(v)), size), raw)
	return nil
}

func parseExec(ev *pluginPluginExecEvent) (execEvent, error) {
	if int(ev.EnvLen) > len(ev.Env) {
		return execEvent{}, fmt.Errorf("exec event with %d bytes of environment", ev.EnvLen)
	}
	name, _, _ := bytes.Cut(ev.Name[:], []byte{0})
	if len(name) == 0 {
		return execEvent{}, fmt.Errorf("exec event without a plugin name")
	}
	return execEvent{
		tgid:    ev.Hdr.Tgid,
		plugin:  string(name),
		command: cniCommand(ev.Env[:ev.EnvLen], int(ev.EnvLen) == len(ev.Env)),
	}, nil
}

// commands are the CNI_COMMAND values of the CNI specification (1.1);
// any other value is counted as "other".
var commands = []string{"ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS"}

var cniCommandKey = []byte("CNI_COMMAND=")

// cniCommand returns the CNI_COMMAND of env, a NUL-separated environment
// block as execve(2) lays it out: its first CNI_COMMAND entry mapped onto
// commands, "other" when it has none or another value. When truncated, env
// is the block's tail and its first entry may be the end of a longer one,
// so it is skipped.
func cniCommand(env []byte, truncated bool) string {
	if truncated {
		_, env, _ = bytes.Cut(env, []byte{0})
	}
	for len(env) > 0 {
		var entry []byte
		entry, env, _ = bytes.Cut(env, []byte{0})
		value, ok := bytes.CutPrefix(entry, cniCommandKey)
		if !ok {
			continue
		}
		for _, c := range commands {
			if string(value) == c {
				return c
			}
		}
		return "other"
	}
	return "other"
}
