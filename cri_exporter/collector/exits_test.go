package collector

import (
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestExitOfClassifiesReasons(t *testing.T) {
	for _, tc := range []struct {
		code   int32
		reason string
		want   string
	}{
		{0, "Completed", reasonCompleted},
		{3, "Error", reasonError},
		{128, "Error", reasonError},
		{137, "Error", reasonSignal},
		{143, "Error", reasonSignal},
		{137, "OOMKilled", reasonOOMKilled},
	} {
		st := &runtimeapi.ContainerStatus{ExitCode: tc.code, Reason: tc.reason, FinishedAt: 42}
		if got := exitOf(st); got.reason != tc.want || got.code != tc.code || got.finished.UnixNano() != 42 {
			t.Errorf("exit %d %s: %+v, want reason %s", tc.code, tc.reason, got, tc.want)
		}
	}
}

// TestExitOfEvent reads a stopped event as CRI runtimes with evented PLEG
// (containerd 1.7+, CRI-O) stream it: the pod's statuses, the stopped
// container's among them.
func TestExitOfEvent(t *testing.T) {
	pod := &runtimeapi.PodSandboxStatus{Metadata: &runtimeapi.PodSandboxMetadata{Namespace: "shop", Name: "web-0"}}
	statuses := []*runtimeapi.ContainerStatus{
		{Id: "a", State: runtimeapi.ContainerState_CONTAINER_RUNNING, Metadata: &runtimeapi.ContainerMetadata{Name: "sidecar"}},
		{Id: "b", State: runtimeapi.ContainerState_CONTAINER_EXITED, ExitCode: 3, Metadata: &runtimeapi.ContainerMetadata{Name: "server"}},
	}
	ev := &runtimeapi.ContainerEventResponse{ContainerId: "b", ContainerEventType: runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT,
		PodSandboxStatus: pod, ContainersStatuses: statuses}
	id, k, e, ok := exitOfEvent(ev)
	if !ok || id != "b" || k != (containerKey{Namespace: "shop", Pod: "web-0", Container: "server"}) || e.code != 3 || e.reason != reasonError {
		t.Errorf("stopped event: %q %+v %+v %v, want b shop/web-0/server code 3 error", id, k, e, ok)
	}
	for _, typ := range []runtimeapi.ContainerEventType{runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT,
		runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT, runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT} {
		ev.ContainerEventType = typ
		if _, _, _, ok := exitOfEvent(ev); ok {
			t.Errorf("%s read as an exit", typ)
		}
	}
}

// TestExitStateCountsOnce: the first listing's exits are remembered, not
// counted; an exit seen by an event and then by a listing counts once.
func TestExitStateCountsOnce(t *testing.T) {
	s := newExitState()
	k := containerKey{Namespace: "ns", Pod: "pod", Container: "c"}
	s.exited("old", k, exit{code: 1, reason: reasonError})
	s.listed(time.Now(), map[string]containerKey{"old": k})
	s.exited("new", k, exit{code: 0, reason: reasonCompleted})
	s.exited("new", k, exit{code: 0, reason: reasonCompleted})
	s.listed(time.Now(), map[string]containerKey{"old": k, "new": k})
	if got := s.exits[exitKey{k, reasonError}]; got != 0 {
		t.Errorf("exits of the first listing: %v, want 0", got)
	}
	if got := s.exits[exitKey{k, reasonCompleted}]; got != 1 {
		t.Errorf("exit seen twice: counted %v times, want 1", got)
	}
}
