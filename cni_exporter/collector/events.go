package collector

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"
	"unsafe"
)

// Kinds of plugin events (enum plugin_event_kind).
const (
	kindExec = 1
	kindExit = 2
)

// Offsets of struct plugin_exec_event, from its bpf2go mirror.
var (
	execNameOffset = int(unsafe.Offsetof(pluginPluginExecEvent{}.Name))
	execEnvOffset  = int(unsafe.Offsetof(pluginPluginExecEvent{}.Env))
	execEventSize  = int(unsafe.Sizeof(pluginPluginExecEvent{}))
	exitEventSize  = int(unsafe.Sizeof(pluginPluginExitEvent{}))
	envMax         = len(pluginPluginExecEvent{}.Env)
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

// parsePluginEvent decodes a record of plugin_events into an execEvent or
// an exitEvent.
func parsePluginEvent(raw []byte) (any, error) {
	if len(raw) < 8 {
		return nil, fmt.Errorf("plugin event of %d bytes", len(raw))
	}
	switch kind := binary.NativeEndian.Uint32(raw); kind {
	case kindExec:
		return parseExec(raw)
	case kindExit:
		if len(raw) < exitEventSize {
			return nil, fmt.Errorf("exit event of %d bytes", len(raw))
		}
		return exitEvent{
			tgid:     binary.NativeEndian.Uint32(raw[4:]),
			status:   binary.NativeEndian.Uint32(raw[8:]),
			duration: time.Duration(binary.NativeEndian.Uint64(raw[16:])),
		}, nil
	default:
		return nil, fmt.Errorf("plugin event of kind %d", kind)
	}
}

func parseExec(raw []byte) (execEvent, error) {
	if len(raw) < execEventSize {
		return execEvent{}, fmt.Errorf("exec event of %d bytes", len(raw))
	}
	envLen := int(binary.NativeEndian.Uint32(raw[8:]))
	if envLen > envMax {
		return execEvent{}, fmt.Errorf("exec event with %d bytes of environment", envLen)
	}
	name, _, _ := bytes.Cut(raw[execNameOffset:execEnvOffset], []byte{0})
	if len(name) == 0 {
		return execEvent{}, fmt.Errorf("exec event without a plugin name")
	}
	env := raw[execEnvOffset : execEnvOffset+envLen]
	return execEvent{
		tgid:    binary.NativeEndian.Uint32(raw[4:]),
		plugin:  string(name),
		command: cniCommand(env, envLen == envMax),
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
