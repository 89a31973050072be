package main

// End-to-end tests of the real kubeapi_exporter binary against a real
// kube-apiserver v1.37.2 on a real etcd v3.7.3 (kubetest): TestMain builds
// the exporter once; each test starts its own cluster and exporter.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
	"github.com/bpfleet/bpfleet/kubeapi_exporter/collector"
	"github.com/bpfleet/bpfleet/kubeapi_exporter/kube"
	"github.com/bpfleet/bpfleet/kubeapi_exporter/kubetest"
)

var binary string

func TestMain(m *testing.M) { exportertest.Main(m, ".", &binary) }

// startExporter runs the exporter against url with token; the cleanup
// expects a clean exit.
func startExporter(t testing.TB, c *kubetest.Cluster, token, url string, args ...string) *exportertest.Process {
	t.Helper()
	p, _ := startStoppable(t, c, token, url, args...)
	return p
}

// startStoppable is startExporter that also returns a stop function, which
// sends SIGTERM and expects a clean exit (once: the cleanup does nothing
// after it).
func startStoppable(t testing.TB, c *kubetest.Cluster, token, url string, args ...string) (*exportertest.Process, func()) {
	t.Helper()
	p := exportertest.Start(t, binary, append([]string{"--kubeconfig=" + c.Kubeconfig(t, token, url)}, args...)...)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			if code := p.Terminate(t); code != 0 {
				t.Errorf("kubeapi_exporter exited %d; log:\n%s", code, p.Log())
			}
		})
	}
	t.Cleanup(stop)
	return p, stop
}

// flat returns the series of name: label values joined as k=v,... sorted →
// value; a histogram gives <labels>,le=<bound> (cumulative), <labels>,count
// and <labels>,sum.
func flat(fams map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	f, ok := fams[name]
	if !ok {
		return out
	}
	for _, m := range f.GetMetric() {
		var ls []string
		for _, l := range m.GetLabel() {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		slices.Sort(ls)
		key := strings.Join(ls, ",")
		if h := m.GetHistogram(); h != nil {
			for _, b := range h.GetBucket() {
				out[key+",le="+strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)] = float64(b.GetCumulativeCount())
			}
			out[key+",count"] = float64(h.GetSampleCount())
			out[key+",sum"] = h.GetSampleSum()
			continue
		}
		out[key] = exportertest.Value(m)
	}
	return out
}

// waitFlat scrapes until flat(name) equals want.
func waitFlat(t testing.TB, p *exportertest.Process, name string, want map[string]float64) map[string]*dto.MetricFamily {
	t.Helper()
	var fams map[string]*dto.MetricFamily
	exportertest.Eventually(t, func() error {
		var err error
		if fams, err = p.Scrape(); err != nil {
			return err
		}
		if got := flat(fams, name); !maps.Equal(got, want) {
			return fmt.Errorf("%s:\n got  %v\n want %v", name, got, want)
		}
		return nil
	})
	return fams
}

func waitSuccess(t testing.TB, p *exportertest.Process, want map[string]float64) map[string]*dto.MetricFamily {
	t.Helper()
	return p.WaitForMetric(t, "kubeapi_scrape_collector_success", "collector", want)
}

func eventKey(ns, kind, reason, typ string) string {
	return fmt.Sprintf("involved_kind=%s,namespace=%s,reason=%s,type=%s", kind, ns, reason, typ)
}

// eventLoad creates and updates Events and keeps what kubeapi_events_total
// must be.
type eventLoad struct {
	t      *testing.T
	c      *kubetest.Cluster
	want   map[string]float64
	core   []*corev1.Event   // created through core/v1 with count
	series []*eventsv1.Event // created through events.k8s.io/v1 with a series
	uids   map[types.UID]int // every Event's occurrences
	keys   map[types.UID]string
	n      int
}

func newEventLoad(t *testing.T, c *kubetest.Cluster) *eventLoad {
	return &eventLoad{t: t, c: c, want: map[string]float64{}, uids: map[types.UID]int{}, keys: map[types.UID]string{}}
}

var eventNamespaces = []string{"alpha", "beta", "gamma"}

// onlyEventNamespaces keeps the exporter to the test's namespaces: the API
// server emits Events of its own in default (such as
// KubernetesDefaultServiceCIDRInconsistent, now and then) that no test
// expects.
var onlyEventNamespaces = "--kube.namespaces=" + strings.Join(eventNamespaces, ",")

// create adds one Event: every fourth through events.k8s.io/v1 with a
// series of 2, the others through core/v1 with count 1 to 3.
func (l *eventLoad) create() {
	t, ctx := l.t, context.Background()
	i := l.n
	l.n++
	ns := eventNamespaces[i%3]
	kind := []string{"Pod", "Deployment"}[i%2]
	reason := fmt.Sprintf("Reason%d", i%4)
	typ := corev1.EventTypeNormal
	if i%5 == 0 {
		typ = corev1.EventTypeWarning
	}
	name := fmt.Sprintf("ev-%d", i)
	if i%4 == 3 {
		now := metav1.NowMicro()
		e, err := l.c.Admin.EventsV1().Events(ns).Create(ctx, &eventsv1.Event{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			EventTime:  now, Series: &eventsv1.EventSeries{Count: 2, LastObservedTime: now},
			ReportingController: "test.bpfleet.io/load", ReportingInstance: "load-1", Action: "Testing",
			Reason: reason, Type: typ, Note: "series",
			Regarding: corev1.ObjectReference{Kind: kind, Namespace: ns, Name: "obj"},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		l.series = append(l.series, e)
		l.add(e.UID, eventKey(ns, kind, reason, typ), 2)
		return
	}
	count := int32(i%3 + 1)
	e, err := l.c.Admin.CoreV1().Events(ns).Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: ns, Name: "obj"},
		Reason:         reason, Type: typ, Message: "core", Count: count,
		FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(),
		Source: corev1.EventSource{Component: "load"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l.core = append(l.core, e)
	l.add(e.UID, eventKey(ns, kind, reason, typ), int(count))
}

func (l *eventLoad) add(uid types.UID, key string, occurrences int) {
	l.keys[uid] = key
	l.want[key] += float64(occurrences - l.uids[uid])
	l.uids[uid] = occurrences
}

// rise raises the count of every third core Event by 3 and the series of
// every series Event by 2.
func (l *eventLoad) rise() {
	t, ctx := l.t, context.Background()
	for i := 0; i < len(l.core); i += 3 {
		e, err := l.c.Admin.CoreV1().Events(l.core[i].Namespace).Get(ctx, l.core[i].Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e.Count += 3
		if _, err := l.c.Admin.CoreV1().Events(e.Namespace).Update(ctx, e, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		l.add(e.UID, l.keys[e.UID], int(e.Count))
	}
	for _, s := range l.series {
		e, err := l.c.Admin.EventsV1().Events(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e.Series.Count += 2
		e.Series.LastObservedTime = metav1.NowMicro()
		if _, err := l.c.Admin.EventsV1().Events(e.Namespace).Update(ctx, e, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		l.add(e.UID, l.keys[e.UID], int(e.Series.Count))
	}
}

func startCluster(t testing.TB, namespaces ...string) *kubetest.Cluster {
	c := kubetest.Start(t)
	for _, ns := range namespaces {
		c.Namespace(t, ns)
	}
	return c
}

// TestEventsExactAcrossRestartAndExpiry: 40 Events in 3 namespaces, some
// with rising counts or series, are counted exactly; after the API server
// restarts mid-watch, and after the watch expires (410: the exporter is cut
// off while Events change and the API server restarts with a fresh watch
// cache), nothing is lost and nothing counted twice. While cut off, the
// collector reports success 0 and recovers without a restart.
func TestEventsExactAcrossRestartAndExpiry(t *testing.T) {
	c := startCluster(t, eventNamespaces...)
	proxy := testenv.NewProxy(t, fmt.Sprintf("127.0.0.1:%d", c.Port))
	p := startExporter(t, c, kubetest.AdminToken, "https://"+proxy.Addr, "--collector.disable-defaults", "--collector.events", "--collector.client", onlyEventNamespaces)
	waitSuccess(t, p, map[string]float64{"events": 1, "client": 1})

	l := newEventLoad(t, c)
	for range 40 {
		l.create()
	}
	waitFlat(t, p, "kubeapi_events_total", l.want)
	l.rise()
	waitFlat(t, p, "kubeapi_events_total", l.want)

	// The API server restarts mid-watch.
	c.StopAPIServer(t)
	c.StartAPIServer(t)
	l.rise()
	for range 5 {
		l.create()
	}
	waitFlat(t, p, "kubeapi_events_total", l.want)
	waitSuccess(t, p, map[string]float64{"events": 1, "client": 1})

	// Cut off: success 0; Events change, etcd is compacted and the API
	// server restarts: the exporter's resource version is gone (410).
	proxy.Cut()
	waitSuccess(t, p, map[string]float64{"events": 0, "client": 1})
	l.rise()
	for range 5 {
		l.create()
	}
	c.Compact(t)
	c.StopAPIServer(t)
	c.StartAPIServer(t)
	l.rise()
	proxy.Resume()
	fams := waitFlat(t, p, "kubeapi_events_total", l.want)
	waitSuccess(t, p, map[string]float64{"events": 1, "client": 1})
	var total float64
	for _, v := range l.want {
		total += v
	}
	t.Logf("%d Events, %g occurrences", len(l.uids), total)

	relists := flat(fams, "kubeapi_relists_total")["resource=events"]
	restarts := flat(fams, "kubeapi_watch_restarts_total")
	if relists < 1 {
		t.Errorf("kubeapi_relists_total{resource=events} = %g after a 410, want at least 1; restarts %v\n%s", relists, restarts, p.Log())
	}
	if restarts["reason=expired,resource=events"] < 1 {
		t.Errorf("no watch restart with reason expired after etcd was compacted: %v", restarts)
	}
	if restarts["reason=timeout,resource=events"] < 1 {
		t.Errorf("no watch restart with reason timeout after the API server went away: %v", restarts)
	}
	events := flat(fams, "kubeapi_watch_events_total")
	if events["resource=events,type=ADDED"] < 40 {
		t.Errorf("kubeapi_watch_events_total: %v, want at least 40 ADDED", events)
	}
	if d := flat(fams, "kubeapi_request_duration_seconds"); d["code=200,resource=events,verb=list,count"]+d["code=200,resource=events,verb=watch,count"] < 1 {
		t.Errorf("kubeapi_request_duration_seconds has no list or watch of events: %v", d)
	}
}

// condition returns a Pod condition that became True offset after created.
func condition(typ corev1.PodConditionType, created metav1.Time, offset int) corev1.PodCondition {
	return corev1.PodCondition{Type: typ, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(created.Add(time.Duration(offset) * time.Second))}
}

func createPod(t *testing.T, c *kubetest.Cluster, ns, name string, containers ...string) *corev1.Pod {
	t.Helper()
	spec := corev1.PodSpec{}
	for _, n := range containers {
		spec.Containers = append(spec.Containers, corev1.Container{Name: n, Image: "busybox"})
	}
	pod, err := c.Admin.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

// writeStatus writes pod's status as a kubelet would, through the status
// subresource.
func writeStatus(t *testing.T, c *kubetest.Cluster, pod *corev1.Pod, status corev1.PodStatus) *corev1.Pod {
	t.Helper()
	pod = pod.DeepCopy()
	pod.Status = status
	out, err := c.Admin.CoreV1().Pods(pod.Namespace).UpdateStatus(context.Background(), pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func terminated(reason string, code int32, id string) *corev1.ContainerStateTerminated {
	now := metav1.Now()
	return &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code, ContainerID: id, StartedAt: now, FinishedAt: now}
}

func containerStatus(name string, restarts int32, waiting string, last *corev1.ContainerStateTerminated) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: name, Image: "busybox", ImageID: "busybox@sha256:0", RestartCount: restarts,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting}}}
	if last != nil {
		cs.LastTerminationState.Terminated = last
		cs.ContainerID = "containerd://current-" + name
	}
	return cs
}

// TestPodsStartupWaitingTerminations: Pods whose status the test writes at
// known timestamps give exactly the expected startup samples in the
// expected buckets; OOMKilled twice and Error once are counted exactly
// (rewriting the same status counts nothing); waiting reasons are exact and
// leave with their Pod.
func TestPodsStartupWaitingTerminations(t *testing.T) {
	c := startCluster(t, "shop", "batch")
	p := startExporter(t, c, kubetest.AdminToken, c.URL(), "--collector.disable-defaults", "--collector.pods")
	waitSuccess(t, p, map[string]float64{"pods": 1})

	// Offsets in seconds of scheduled, initialized, containers_ready, ready.
	offsets := map[string][4]int{"web-0": {1, 2, 4, 4}, "web-1": {3, 6, 12, 20}, "job-0": {0, 40, 90, 700}}
	nsOf := map[string]string{"web-0": "shop", "web-1": "shop", "job-0": "batch"}
	want := map[string]float64{}
	for _, name := range []string{"web-0", "web-1", "job-0"} {
		ns, off := nsOf[name], offsets[name]
		pod := createPod(t, c, ns, name, "app")
		created := pod.CreationTimestamp
		status := corev1.PodStatus{Phase: corev1.PodRunning}
		types := []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady}
		// Conditions arrive one write at a time, as a kubelet sends them.
		for i, typ := range types {
			status.Conditions = append(status.Conditions, condition(typ, created, off[i]))
			pod = writeStatus(t, c, pod, status)
			phase := collector.StartupPhases[i].Phase
			key := "namespace=" + ns + ",phase=" + phase
			for _, b := range collector.StartupBuckets {
				if float64(off[i]) <= b {
					want[key+",le="+strconv.FormatFloat(b, 'g', -1, 64)]++
				} else {
					want[key+",le="+strconv.FormatFloat(b, 'g', -1, 64)] += 0
				}
			}
			want[key+",le=+Inf"]++
			want[key+",count"]++
			want[key+",sum"] += float64(off[i])
		}
		// The same status again (a kubelet's periodic write): no new sample.
		writeStatus(t, c, pod, status)
	}
	waitFlat(t, p, "kubeapi_pod_startup_duration_seconds", want)

	// Terminations and waiting containers.
	crash := createPod(t, c, "shop", "crash", "app")
	crash = writeStatus(t, c, crash, corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
		containerStatus("app", 1, "CrashLoopBackOff", terminated("OOMKilled", 137, "containerd://oom-1"))}})
	crash = writeStatus(t, c, crash, corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
		containerStatus("app", 2, "CrashLoopBackOff", terminated("OOMKilled", 137, "containerd://oom-2"))}})
	// Rewritten unchanged: nothing new.
	writeStatus(t, c, crash, crash.Status)
	bad := createPod(t, c, "shop", "bad", "app")
	writeStatus(t, c, bad, corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
		containerStatus("app", 1, "CreateContainerConfigError", terminated("Error", 1, "containerd://err-1"))}})
	pull := createPod(t, c, "batch", "pull", "a", "b")
	writeStatus(t, c, pull, corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
		containerStatus("a", 0, "ImagePullBackOff", nil), containerStatus("b", 0, "ImagePullBackOff", nil)}})

	waitFlat(t, p, "kubeapi_pod_container_terminations_total", map[string]float64{
		"namespace=shop,reason=OOMKilled": 2, "namespace=shop,reason=Error": 1})
	waitFlat(t, p, "kubeapi_pod_container_waiting", map[string]float64{
		"namespace=shop,reason=CrashLoopBackOff": 1, "namespace=shop,reason=CreateContainerConfigError": 1,
		"namespace=batch,reason=ImagePullBackOff": 2})
	if err := c.Admin.CoreV1().Pods("batch").Delete(context.Background(), "pull", *metav1.NewDeleteOptions(0)); err != nil {
		t.Fatal(err)
	}
	waitFlat(t, p, "kubeapi_pod_container_waiting", map[string]float64{
		"namespace=shop,reason=CrashLoopBackOff": 1, "namespace=shop,reason=CreateContainerConfigError": 1})
	waitFlat(t, p, "kubeapi_pod_container_terminations_total", map[string]float64{
		"namespace=shop,reason=OOMKilled": 2, "namespace=shop,reason=Error": 1})
}

// TestWritesByManager: a ConfigMap created by one manager, updated 5 times
// by manager-a and twice by manager-b, then deleted, is counted exactly;
// with --collector.writes.max-managers=2 the third manager is the overflow
// manager.
func TestWritesByManager(t *testing.T) {
	c := startCluster(t, "cfg")
	args := []string{"--collector.disable-defaults", "--collector.writes", "--collector.writes.resources=v1/configmaps"}
	p := startExporter(t, c, kubetest.AdminToken, c.URL(), args...)
	capped := startExporter(t, c, kubetest.AdminToken, c.URL(), append(args, "--collector.writes.max-managers=2")...)
	waitSuccess(t, p, map[string]float64{"writes": 1})
	waitSuccess(t, capped, map[string]float64{"writes": 1})

	ctx := context.Background()
	api := c.Admin.CoreV1().ConfigMaps("cfg")
	cm, err := api.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "loop", Labels: map[string]string{"created": "yes"}}},
		metav1.CreateOptions{FieldManager: "creator"})
	if err != nil {
		t.Fatal(err)
	}
	update := func(manager, key string, i int) {
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[key] = strconv.Itoa(i)
		if cm, err = api.Update(ctx, cm, metav1.UpdateOptions{FieldManager: manager}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		update("manager-a", "a", i)
	}
	for i := range 2 {
		update("manager-b", "b", i)
	}
	if err := api.Delete(ctx, "loop", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFlat(t, p, "kubeapi_object_writes_total", map[string]float64{
		"manager=creator,operation=create,resource=configmaps":   1,
		"manager=manager-a,operation=update,resource=configmaps": 5,
		"manager=manager-b,operation=update,resource=configmaps": 2,
		"manager=unknown,operation=delete,resource=configmaps":   1,
	})
	waitFlat(t, capped, "kubeapi_object_writes_total", map[string]float64{
		"manager=creator,operation=create,resource=configmaps":      1,
		"manager=manager-a,operation=update,resource=configmaps":    5,
		"manager=__overflow__,operation=update,resource=configmaps": 2,
		"manager=unknown,operation=delete,resource=configmaps":      1,
	})
}

// TestTwoShards: two replicas with --total-shards=2 count every Event
// exactly once between them, each the Events whose UID hashes to it.
func TestTwoShards(t *testing.T) {
	c := startCluster(t, eventNamespaces...)
	args := []string{"--collector.disable-defaults", "--collector.events", "--total-shards=2", onlyEventNamespaces}
	shards := []*exportertest.Process{
		startExporter(t, c, kubetest.AdminToken, c.URL(), append(args, "--shard=0")...),
		startExporter(t, c, kubetest.AdminToken, c.URL(), append(args, "--shard=1")...),
	}
	l := newEventLoad(t, c)
	for range 30 {
		l.create()
	}
	l.rise()
	wants := []map[string]float64{{}, {}}
	for uid, n := range l.uids {
		wants[kube.ShardOf(uid, 2)][l.keys[uid]] += float64(n)
	}
	for i, p := range shards {
		waitFlat(t, p, "kubeapi_events_total", wants[i])
	}
	if len(wants[0]) == 0 || len(wants[1]) == 0 {
		t.Errorf("one shard got no Events: %v", wants)
	}
}

// TestRBAC: with the shipped ClusterRole bound to its user, every collector
// succeeds; with the Events permission removed, the events collector fails
// (success 0) and the log says the list is forbidden, while the others work.
func TestRBAC(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	raw, err := os.ReadFile("rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict([]byte(strings.Split(string(raw), "\n---\n")[0]), &role); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Admin.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kubeapi-exporter-test"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: kubetest.ExporterUser}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	all := map[string]float64{"events": 1, "pods": 1, "writes": 1, "client": 1}
	p, stop := startStoppable(t, c, kubetest.ExporterToken, c.URL())
	waitSuccess(t, p, all)
	stop()

	// Without list/watch on events.
	role.Rules[0].Resources = []string{"pods"}
	if _, err := c.Admin.RbacV1().ClusterRoles().Update(ctx, &role, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the authorizer's informer catches up
	p = startExporter(t, c, kubetest.ExporterToken, c.URL())
	waitSuccess(t, p, map[string]float64{"events": 0, "pods": 1, "writes": 1, "client": 1})
	exportertest.Eventually(t, func() error {
		if len(exportertest.LogLines(p.Log(), "events", "forbidden")) == 0 {
			return fmt.Errorf("no log line says events are forbidden:\n%s", p.Log())
		}
		return nil
	})
}

// TestPromtoolAndREADME: a scrape after real traffic passes promtool, and
// README.md's tables match --help, the metric table and the scrape.
func TestPromtoolAndREADME(t *testing.T) {
	c := startCluster(t, eventNamespaces...)
	p := startExporter(t, c, kubetest.AdminToken, c.URL())
	waitSuccess(t, p, map[string]float64{"events": 1, "pods": 1, "writes": 1, "client": 1})
	l := newEventLoad(t, c)
	for range 4 {
		l.create()
	}
	c.Namespace(t, "shop")
	pod := createPod(t, c, "shop", "web", "app")
	writeStatus(t, c, pod, corev1.PodStatus{Phase: corev1.PodRunning,
		Conditions:        []corev1.PodCondition{condition(corev1.PodScheduled, pod.CreationTimestamp, 1)},
		ContainerStatuses: []corev1.ContainerStatus{containerStatus("app", 1, "CrashLoopBackOff", terminated("Error", 1, "containerd://x"))}})
	var body []byte
	exportertest.Eventually(t, func() error {
		body = p.Get(t, "/metrics").Body
		for _, m := range []string{"kubeapi_events_total{", "kubeapi_pod_startup_duration_seconds_bucket{", "kubeapi_pod_container_waiting{",
			"kubeapi_pod_container_terminations_total{", "kubeapi_object_writes_total{", "kubeapi_relists_total", "kubeapi_watch_restarts_total"} {
			if !strings.Contains(string(body), m) && m != "kubeapi_relists_total" && m != "kubeapi_watch_restarts_total" {
				return fmt.Errorf("%s not served yet", m)
			}
		}
		return nil
	})
	exportertest.PromtoolCheck(t, body)
	fams, err := exportertest.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	exportertest.CheckREADMEMetrics(t, "README.md", collector.Catalog(), fams, exportertest.MetricExceptions{
		OnlyOnEvents:         []string{"kubeapi_exporter_series_overflow_total", "kubeapi_relists_total", "kubeapi_watch_restarts_total"},
		UndocumentedPrefixes: []string{"go_", "process_", "promhttp_"},
	})
}

// TestREADMEFlags needs no cluster: the README documents --help exactly.
func TestREADMEFlags(t *testing.T) {
	exportertest.CheckREADMEFlags(t, "README.md", binary)
}

// TestREADMECatalog needs no cluster: the README documents the metric
// table exactly.
func TestREADMECatalog(t *testing.T) {
	exportertest.CheckREADMECatalog(t, "README.md", collector.Catalog())
}

// TestNoClusterUnsupported: outside a cluster without --kubeconfig the
// collectors are unsupported (no success series), and the exporter serves.
func TestNoClusterUnsupported(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	p := exportertest.Start(t, binary)
	t.Cleanup(func() { p.Terminate(t) })
	p.WaitForMetric(t, "kubeapi_exporter_collector_unsupported", "collector",
		map[string]float64{"events": 1, "pods": 1, "writes": 1, "client": 1})
}

// TestBadFlags: values the flags accept but the exporter cannot use are
// usage errors (exit 2) with the flag named.
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--shard=2", "--total-shards=2"},
		{"--total-shards=0"},
		{"--kube.namespaces=a", "--kube.namespaces-exclude=a"},
		{"--collector.writes.resources=pods"},
		{"--collector.writes.max-managers=0"},
	} {
		out, err := exec.Command(binary, args...).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit 2; output:\n%s", args, err, out)
		}
		if flag := strings.SplitN(strings.TrimPrefix(args[0], "--"), "=", 2)[0]; !strings.Contains(string(out), flag) {
			t.Errorf("%v: the error does not name %s:\n%s", args, flag, out)
		}
	}
}
