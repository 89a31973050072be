package collector

import (
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/bpfleet/bpfleet/internal/cri"
)

// Exit reasons of cri_container_exits_total.
const (
	reasonCompleted = "completed"  // exit code 0
	reasonError     = "error"      // exit code 1-128
	reasonOOMKilled = "oom_killed" // the runtime says OOMKilled
	reasonSignal    = "signal"     // exit code above 128: killed by signal code-128
)

var exitReasons = []string{reasonCompleted, reasonError, reasonOOMKilled, reasonSignal}

// containerKey names a container across its restarts, as the kubelet does:
// pod namespace, pod name and container name.
type containerKey cri.PodRef

func (k containerKey) values() []string { return []string{k.Namespace, k.Pod, k.Container} }

// exit is one container's exit, as the runtime reports it.
type exit struct {
	code     int32
	reason   string // one of exitReasons
	finished time.Time
}

// exitOf classifies an exited container's status. A runtime reports a
// process killed by signal n as exit code 128+n, as shells do; the reason
// OOMKilled takes precedence over the code (137, SIGKILL).
func exitOf(st *runtimeapi.ContainerStatus) exit {
	e := exit{code: st.GetExitCode(), finished: time.Unix(0, st.GetFinishedAt())}
	switch {
	case st.GetReason() == "OOMKilled":
		e.reason = reasonOOMKilled
	case e.code == 0:
		e.reason = reasonCompleted
	case e.code > 128:
		e.reason = reasonSignal
	default:
		e.reason = reasonError
	}
	return e
}

// keyOf names a container from the kubelet's labels, else from the CRI
// metadata of the container and of its sandbox, as cri.Index does.
func keyOf(labels map[string]string, name string, sandbox *runtimeapi.PodSandboxMetadata) containerKey {
	return containerKey(cri.Name(labels, name, sandbox))
}

func orElse(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}

// exitOfEvent returns the exit that a runtime event reports: a
// CONTAINER_STOPPED_EVENT carries the statuses of its pod's containers,
// the stopped one's among them. ok is false for every other event.
func exitOfEvent(ev *runtimeapi.ContainerEventResponse) (id string, k containerKey, e exit, ok bool) {
	if ev.GetContainerEventType() != runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT {
		return "", containerKey{}, exit{}, false
	}
	for _, st := range ev.GetContainersStatuses() {
		if st.GetId() == ev.GetContainerId() && st.GetState() == runtimeapi.ContainerState_CONTAINER_EXITED {
			k := keyOf(st.GetLabels(), st.GetMetadata().GetName(), ev.GetPodSandboxStatus().GetMetadata())
			return st.GetId(), k, exitOf(st), true
		}
	}
	return "", containerKey{}, exit{}, false
}
