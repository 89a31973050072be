package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

// Facts is what one exporter's rendered workload asks of a node and of the
// cluster: the table deploy/README.md shows and the chart must render.
type Facts struct {
	Kind         string
	Level        string
	Capabilities []string
	HostPID      bool
	API          bool     // service account token mounted
	HostPaths    []string // mounted read-only, sorted
}

// golden: measured in real pods with every capability dropped first
// (../shared/MACHINE.md); the chart's default values.
var golden = map[string]Facts{
	"kernel":  {"DaemonSet", "privileged", []string{"BPF", "PERFMON", "DAC_READ_SEARCH"}, false, false, []string{"/run/containerd/containerd.sock", "/sys/fs/cgroup", "/sys/kernel/btf", "/sys/kernel/tracing"}},
	"dns":     {"DaemonSet", "privileged", []string{"BPF", "PERFMON", "NET_ADMIN", "DAC_READ_SEARCH"}, false, false, []string{"/run/containerd/containerd.sock", "/sys/fs/cgroup", "/sys/kernel/btf"}},
	"cni":     {"DaemonSet", "privileged", []string{"BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH"}, true, false, []string{"/etc/cni/net.d", "/opt/cni/bin", "/run/containerd/containerd.sock", "/run/netns", "/sys/kernel/btf", "/sys/kernel/tracing", "/var/lib/cni/networks"}},
	"cri":     {"DaemonSet", "privileged", []string{"BPF", "PERFMON", "DAC_READ_SEARCH"}, false, false, []string{"/run/containerd/containerd.sock", "/sys/fs/cgroup", "/sys/kernel/btf", "/sys/kernel/tracing"}},
	"systemd": {"DaemonSet", "privileged", []string{"BPF", "PERFMON", "DAC_READ_SEARCH"}, false, false, []string{"/run/dbus", "/run/systemd", "/sys/fs/cgroup", "/sys/kernel/btf", "/sys/kernel/tracing"}},
	"kubelet": {"DaemonSet", "restricted", nil, false, true, nil},
	"kubeapi": {"Deployment", "restricted", nil, false, true, nil},
	"etcd":    {"Deployment", "restricted", nil, false, false, nil},
}

// baselineRejections: what Pod Security `baseline` (one level stricter than
// `privileged`) says of each eBPF exporter's pod, exactly as the API server
// would: "<reason> (<detail>)".
var baselineRejections = map[string][]string{
	"kernel":  {`non-default capabilities (container "kernel-exporter" must not include "BPF", "DAC_READ_SEARCH", "PERFMON" in securityContext.capabilities.add)`, `hostPath volumes (volumes "cgroup", "btf", "tracing", "cri")`},
	"dns":     {`non-default capabilities (container "dns-exporter" must not include "BPF", "DAC_READ_SEARCH", "NET_ADMIN", "PERFMON" in securityContext.capabilities.add)`, `hostPath volumes (volumes "cgroup", "btf", "cri")`},
	"cni":     {`non-default capabilities (container "cni-exporter" must not include "BPF", "DAC_READ_SEARCH", "PERFMON", "SYS_PTRACE" in securityContext.capabilities.add)`, `host namespaces (hostPID=true)`, `hostPath volumes (volumes "btf", "tracing", "cni-bin", "cni-conf", "cni-ipam", "netns", "cri")`},
	"cri":     {`non-default capabilities (container "cri-exporter" must not include "BPF", "DAC_READ_SEARCH", "PERFMON" in securityContext.capabilities.add)`, `hostPath volumes (volumes "cgroup", "btf", "tracing", "cri")`},
	"systemd": {`non-default capabilities (container "systemd-exporter" must not include "BPF", "DAC_READ_SEARCH", "PERFMON" in securityContext.capabilities.add)`, `hostPath volumes (volumes "dbus", "run-systemd", "cgroup", "btf", "tracing")`},
}

func render(t testing.TB, o Options) []Object {
	t.Helper()
	objs, err := Render(ChartDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// allOn enables every exporter.
func allOn() map[string]any { return Only(Exporters...) }

// valueMatrix: the renderings every invariant must hold for.
func valueMatrix() map[string]Options {
	m := map[string]Options{
		"defaults":             {},
		"defaults+crds":        {APIVersions: MonitoringAPI},
		"all+crds":             {Values: allOn(), APIVersions: MonitoringAPI},
		"all, no CRI":          {Values: Merge(allOn(), map[string]any{"criSocket": ""})},
		"all, old kernel":      {Values: Merge(allOn(), map[string]any{"exporters": map[string]any{"kernel": map[string]any{"oldKernel": true}, "dns": map[string]any{"oldKernel": true}}})},
		"kubeapi 3 shards":     {Values: Merge(Only("kubeapi"), map[string]any{"exporters": map[string]any{"kubeapi": map[string]any{"shards": 3}}}), APIVersions: MonitoringAPI},
		"kubelet options":      {Values: Merge(Only("kubelet"), map[string]any{"exporters": map[string]any{"kubelet": map[string]any{"podLimits": true, "caConfigMap": "kubelet-ca"}}})},
		"etcd without TLS":     {Values: Merge(Only("etcd"), map[string]any{"exporters": map[string]any{"etcd": map[string]any{"tlsSecret": "", "endpoints": "http://10.0.0.1:2379"}}})},
		"no namespaces":        {Values: Merge(allOn(), map[string]any{"namespaces": map[string]any{"create": false}})},
		"other image, release": {Values: map[string]any{"image": map[string]any{"registry": "", "repository": "example/bpfleet", "tag": "dev"}}, Release: "other"},
		"extra args":           {Values: map[string]any{"exporters": map[string]any{"kernel": map[string]any{"extraArgs": []any{"--workload.granularity=pod", "--no-collector.sched"}}}}},
	}
	for _, e := range Exporters {
		m["only "+e] = Options{Values: Only(e), APIVersions: MonitoringAPI}
	}
	return m
}

func hostPaths(spec *corev1.PodSpec) map[string]string {
	out := map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			out[v.Name] = v.HostPath.Path
		}
	}
	return out
}

// factsOf reads the facts back from a rendered pod template.
func factsOf(t testing.TB, kind, level string, spec *corev1.PodSpec) Facts {
	t.Helper()
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	f := Facts{Kind: kind, Level: level, HostPID: spec.HostPID}
	sc := spec.Containers[0].SecurityContext
	if sc != nil && sc.Capabilities != nil {
		for _, c := range sc.Capabilities.Add {
			f.Capabilities = append(f.Capabilities, string(c))
		}
	}
	f.API = spec.AutomountServiceAccountToken != nil && *spec.AutomountServiceAccountToken
	for _, p := range hostPaths(spec) {
		f.HostPaths = append(f.HostPaths, p)
	}
	sort.Strings(f.HostPaths)
	return f
}

// TestChartInvariants renders the chart for every set of values in the
// matrix and checks, for every object and pod template, what no values
// may change.
func TestChartInvariants(t *testing.T) {
	for name, o := range valueMatrix() {
		t.Run(name, func(t *testing.T) {
			objs := render(t, o)
			ids := map[string]bool{}
			nsLevel := map[string]string{}
			sas := map[string]*corev1.ServiceAccount{}
			for _, obj := range objs {
				if ids[obj.ID()] {
					t.Errorf("%s rendered twice", obj.ID())
				}
				ids[obj.ID()] = true
				switch v := obj.Typed.(type) {
				case *corev1.Namespace:
					nsLevel[v.Name] = v.Labels[psaapi.EnforceLevelLabel]
				case *corev1.ServiceAccount:
					sas[v.Namespace+"/"+v.Name] = v
				}
				if obj.Kind != "Namespace" && !strings.HasPrefix(obj.Kind, "Cluster") && obj.Namespace == "" {
					t.Errorf("%s has no namespace", obj.ID())
				}
			}
			workloads := 0
			for _, obj := range objs {
				tpl := obj.PodTemplate()
				if tpl == nil {
					continue
				}
				workloads++
				e := obj.Exporter()
				g, ok := golden[e]
				if !ok {
					t.Fatalf("%s: unknown exporter %q", obj.ID(), e)
				}
				checkPodTemplate(t, obj, e, tpl)
				wantNS := "bpfleet"
				if g.Level == "privileged" {
					wantNS = "bpfleet-node"
				}
				if obj.Namespace != wantNS {
					t.Errorf("%s: namespace %s, want %s", obj.ID(), obj.Namespace, wantNS)
				}
				if lvl, ok := nsLevel[obj.Namespace]; ok && lvl != g.Level {
					t.Errorf("%s: in a namespace enforcing %q, want %q", obj.ID(), lvl, g.Level)
				}
				create := true
				if v, ok := o.Values["namespaces"].(map[string]any); ok {
					create = v["create"] != false
				}
				if _, ok := nsLevel[obj.Namespace]; create && !ok {
					t.Errorf("%s: namespace %s not rendered", obj.ID(), obj.Namespace)
				}
				sa := sas[obj.Namespace+"/"+tpl.Spec.ServiceAccountName]
				if sa == nil {
					t.Errorf("%s: service account %s not rendered", obj.ID(), tpl.Spec.ServiceAccountName)
				} else if (sa.AutomountServiceAccountToken != nil && *sa.AutomountServiceAccountToken) != g.API {
					t.Errorf("%s: service account automount %v, want %v", obj.ID(), *sa.AutomountServiceAccountToken, g.API)
				}
				if obj.Kind != g.Kind {
					t.Errorf("%s: kind %s, want %s", obj.ID(), obj.Kind, g.Kind)
				}
			}
			if workloads == 0 && name != "only nothing" {
				t.Errorf("no workload rendered")
			}
			checkMonitoring(t, objs, slices.Contains(o.APIVersions, "monitoring.coreos.com/v1"))
		})
	}
}

func checkPodTemplate(t *testing.T, obj Object, e string, tpl *corev1.PodTemplateSpec) {
	t.Helper()
	spec := &tpl.Spec
	g := golden[e]
	psc := spec.SecurityContext
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod seccomp profile is not RuntimeDefault", obj.ID())
	}
	if spec.HostNetwork || spec.HostIPC {
		t.Errorf("%s: hostNetwork or hostIPC", obj.ID())
	}
	if spec.HostPID != (e == "cni") {
		t.Errorf("%s: hostPID %v; only cni_exporter may have it", obj.ID(), spec.HostPID)
	}
	if spec.HostUsers != nil {
		t.Errorf("%s: hostUsers set (bpf() needs the host user namespace)", obj.ID())
	}
	if tpl.Labels["app.kubernetes.io/name"] != e+"-exporter" {
		t.Errorf("%s: pod label app.kubernetes.io/name %q: the PodMonitor's job label would be wrong", obj.ID(), tpl.Labels["app.kubernetes.io/name"])
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Privileged != nil && *sc.Privileged || sc.Capabilities == nil ||
		!reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("%s: container security context %+v", obj.ID(), sc)
	}
	for _, cap := range sc.Capabilities.Add {
		if cap == "SYS_ADMIN" || cap == "ALL" {
			t.Errorf("%s: adds %s", obj.ID(), cap)
		}
	}
	if g.Level == "privileged" {
		if psc.RunAsUser == nil || *psc.RunAsUser != 0 {
			t.Errorf("%s: an eBPF exporter must run as uid 0", obj.ID())
		}
	} else if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: an API reader must run as non-root", obj.ID())
	}
	hp := hostPaths(spec)
	mounted := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounted[m.Name] = true
		if !m.ReadOnly {
			t.Errorf("%s: volume %s mounted read-write", obj.ID(), m.Name)
		}
		if p, ok := hp[m.Name]; ok && m.MountPath != p {
			t.Errorf("%s: host path %s mounted at %s, not at the same path", obj.ID(), p, m.MountPath)
		}
	}
	for name := range hp {
		if !mounted[name] {
			t.Errorf("%s: host path volume %s not mounted", obj.ID(), name)
		}
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("%s: resources %+v: want CPU and memory requests and a memory limit", obj.ID(), c.Resources)
	}
	port := c.Ports[0]
	if port.Name != "metrics" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("%s: port %+v, probes %+v %+v", obj.ID(), port, c.ReadinessProbe, c.LivenessProbe)
	}
}

func checkMonitoring(t *testing.T, objs []Object, crds bool) {
	t.Helper()
	enabled := map[string]string{} // exporter -> namespace of its workload
	pm := map[string]*monitoringv1.PodMonitor{}
	rules := map[string]*monitoringv1.PrometheusRule{}
	for _, o := range objs {
		if o.PodTemplate() != nil {
			enabled[o.Exporter()] = o.Namespace
		}
		switch v := o.Typed.(type) {
		case *monitoringv1.PodMonitor:
			pm[o.Exporter()] = v
		case *monitoringv1.PrometheusRule:
			rules[o.Exporter()] = v
		}
	}
	for e, ns := range enabled {
		p := pm[e]
		if !crds {
			if p != nil {
				t.Errorf("%s: PodMonitor rendered without the monitoring.coreos.com/v1 API", e)
			}
			continue
		}
		if p == nil {
			t.Errorf("%s: no PodMonitor", e)
			continue
		}
		if p.Namespace != ns || p.Spec.JobLabel != "app.kubernetes.io/name" || len(p.Spec.PodMetricsEndpoints) != 1 {
			t.Errorf("%s: PodMonitor %s/%s jobLabel %q endpoints %d", e, p.Namespace, p.Name, p.Spec.JobLabel, len(p.Spec.PodMetricsEndpoints))
			continue
		}
		ep := p.Spec.PodMetricsEndpoints[0]
		if !ep.HonorLabels || ep.Port == nil || *ep.Port != "metrics" {
			t.Errorf("%s: PodMonitor endpoint %+v: want port metrics and honorLabels true", e, ep)
		}
		_, err := os.Stat(filepath.Join(Root(), "mixins", e, "alerts.yaml"))
		if hasMixin := err == nil; hasMixin != (rules[e] != nil) {
			t.Errorf("%s: mixin %v, PrometheusRule %v", e, hasMixin, rules[e] != nil)
		}
	}
}

// TestPodSecurity evaluates every pod template with the Pod Security
// admission's own evaluator (the API server's checks): each exporter is
// admitted at its level, and an eBPF exporter is rejected by `baseline`
// with exactly the reasons its privileges give.
func TestPodSecurity(t *testing.T) {
	ev, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	eval := func(level psaapi.Level, tpl *corev1.PodTemplateSpec) []string {
		res := ev.EvaluatePod(psaapi.LevelVersion{Level: level, Version: psaapi.LatestVersion()}, &tpl.ObjectMeta, &tpl.Spec)
		var out []string
		for _, r := range res {
			if !r.Allowed {
				out = append(out, fmt.Sprintf("%s (%s)", r.ForbiddenReason, r.ForbiddenDetail))
			}
		}
		return out
	}
	seen := map[string]bool{}
	for _, opts := range []Options{{Values: allOn()}, {Values: Merge(allOn(), map[string]any{"exporters": map[string]any{"kubeapi": map[string]any{"shards": 2}, "kubelet": map[string]any{"caConfigMap": "ca"}, "etcd": map[string]any{"tlsSecret": ""}}})}} {
		for _, obj := range render(t, opts) {
			tpl := obj.PodTemplate()
			if tpl == nil {
				continue
			}
			e := obj.Exporter()
			seen[e] = true
			g := golden[e]
			if got := eval(psaapi.Level(g.Level), tpl); len(got) != 0 {
				t.Errorf("%s: rejected at its level %s: %q", obj.ID(), g.Level, got)
			}
			if g.Level == "restricted" {
				// The strictest level: nothing stricter to be rejected by.
				// Prove the evaluator would notice one capability more.
				mut := tpl.DeepCopy()
				mut.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_RAW"}
				want := []string{fmt.Sprintf(`unrestricted capabilities (container "%s-exporter" must not include "NET_RAW" in securityContext.capabilities.add)`, e)}
				if got := eval(psaapi.LevelRestricted, mut); !reflect.DeepEqual(got, want) {
					t.Errorf("%s with NET_RAW at restricted: %q, want %q", obj.ID(), got, want)
				}
				continue
			}
			if got := eval(psaapi.LevelBaseline, tpl); !reflect.DeepEqual(got, baselineRejections[e]) {
				t.Errorf("%s at baseline:\n got %q\nwant %q", obj.ID(), got, baselineRejections[e])
			}
		}
	}
	for _, e := range Exporters {
		if !seen[e] {
			t.Errorf("%s: no pod template rendered", e)
		}
	}
}

// TestFacts pins what each exporter gets (capabilities, hostPID, host
// paths, token, level, kind) against the golden table, and the golden
// table against deploy/README.md's requirements table.
func TestFacts(t *testing.T) {
	got := map[string]Facts{}
	for _, obj := range render(t, Options{Values: allOn()}) {
		if tpl := obj.PodTemplate(); tpl != nil {
			lvl := "restricted"
			if obj.Namespace == "bpfleet-node" {
				lvl = "privileged"
			}
			got[obj.Exporter()] = factsOf(t, obj.Kind, lvl, &tpl.Spec)
		}
	}
	if !reflect.DeepEqual(got, golden) {
		for e := range golden {
			if !reflect.DeepEqual(got[e], golden[e]) {
				t.Errorf("%s:\n got %+v\nwant %+v", e, got[e], golden[e])
			}
		}
	}
	readme := readmeFacts(t)
	for _, e := range Exporters {
		g := golden[e]
		want := fmt.Sprintf("%s | %s | %s | %s | %s | %s", g.Kind, g.Level, listOr(g.Capabilities), yesNo(g.HostPID), yesNo(g.API), listOr(g.HostPaths))
		if readme[e] != want {
			t.Errorf("deploy/README.md requirements row of %s:\n got %s\nwant %s", e, readme[e], want)
		}
	}
	if len(readme) != len(Exporters) {
		t.Errorf("deploy/README.md requirements table has %d rows, want %d", len(readme), len(Exporters))
	}
}

func listOr(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = "`" + s + "`"
	}
	return strings.Join(q, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// readmeFacts reads the rows of the table under "### What each exporter
// gets" in deploy/README.md: exporter -> the other cells joined by " | ".
func readmeFacts(t *testing.T) map[string]string {
	return readmeTable(t, "What each exporter gets", 0)
}

// readmeTable reads the rows of the first table under "### <heading>" in
// deploy/README.md: exporter -> its cells after the first, joined by " | ",
// all of them, or only the first n when n > 0.
func readmeTable(t *testing.T, heading string, n int) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(Root(), "deploy", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(data), "\n### "+heading+"\n")
	if !ok {
		t.Fatalf("deploy/README.md has no %q section", "### "+heading)
	}
	out := map[string]string{}
	for _, line := range strings.Split(after, "\n") {
		if strings.HasPrefix(line, "#") {
			break
		}
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| exporter") || strings.HasPrefix(line, "| ---") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		name := strings.TrimSuffix(strings.Trim(cells[0], "`"), "_exporter")
		cells = cells[1:]
		if n > 0 && len(cells) > n {
			cells = cells[:n]
		}
		out[name] = strings.Join(cells, " | ")
	}
	return out
}

// TestResourcesTable: each exporter's CPU request, memory request and
// memory limit are what deploy/README.md's resources table says (the
// figures measured there are why).
func TestResourcesTable(t *testing.T) {
	readme := readmeTable(t, "Resources", 3)
	seen := map[string]bool{}
	for _, obj := range render(t, Options{Values: allOn()}) {
		tpl := obj.PodTemplate()
		if tpl == nil {
			continue
		}
		e := obj.Exporter()
		if seen[e] {
			continue // kubeapi's shards share one template
		}
		seen[e] = true
		r := tpl.Spec.Containers[0].Resources
		got := fmt.Sprintf("`%s` | `%s` | `%s`", r.Requests.Cpu(), r.Requests.Memory(), r.Limits.Memory())
		if readme[e] != got {
			t.Errorf("%s: chart renders %s; deploy/README.md's resources row says %s", e, got, readme[e])
		}
	}
	if len(seen) != len(Exporters) || len(readme) != len(Exporters) {
		t.Errorf("%d exporters rendered, %d rows in the resources table; want %d each", len(seen), len(readme), len(Exporters))
	}
}

// TestRBAC pins every ClusterRole: kubeapi's is kubeapi_exporter/rbac.yaml,
// kubelet's is get on nodes/stats (and nodes/pods for the limit metrics);
// no exporter may read secrets, reach nodes/proxy, write, or use "*".
func TestRBAC(t *testing.T) {
	var shipped rbacv1.ClusterRole
	data, err := os.ReadFile(filepath.Join(Root(), "kubeapi_exporter", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(data), "\n---\n")
	if err := yaml.UnmarshalStrict([]byte(first), &shipped); err != nil {
		t.Fatal(err)
	}
	// kubelet_exporter/rbac.yaml: nodes/stats, and nodes/pods in a second
	// ClusterRole for --kubelet.pods; the chart grants both in one.
	data, err = os.ReadFile(filepath.Join(Root(), "kubelet_exporter", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := SplitDocuments(string(data))
	var kStats, kPods rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &kStats); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &kPods); err != nil {
		t.Fatal(err)
	}
	if len(kStats.Rules) != 1 || len(kPods.Rules) != 1 {
		t.Fatalf("kubelet_exporter/rbac.yaml: %+v %+v", kStats.Rules, kPods.Rules)
	}
	stats := kStats.Rules
	both := kStats.Rules[0]
	both.Resources = append(append([]string{}, both.Resources...), kPods.Rules[0].Resources...)
	statsPods := []rbacv1.PolicyRule{both}
	for _, tc := range []struct {
		name string
		o    Options
		want map[string][]rbacv1.PolicyRule
	}{
		{"all", Options{Values: allOn()}, map[string][]rbacv1.PolicyRule{"kubeapi": shipped.Rules, "kubelet": stats}},
		{"kubelet limits", Options{Values: Merge(allOn(), map[string]any{"exporters": map[string]any{"kubelet": map[string]any{"podLimits": true}}})},
			map[string][]rbacv1.PolicyRule{"kubeapi": shipped.Rules, "kubelet": statsPods}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string][]rbacv1.PolicyRule{}
			bound := map[string]rbacv1.Subject{}
			sas := map[string]bool{}
			for _, obj := range render(t, tc.o) {
				switch v := obj.Typed.(type) {
				case *rbacv1.ClusterRole:
					got[obj.Exporter()] = v.Rules
					checkRules(t, v)
				case *rbacv1.ClusterRoleBinding:
					if len(v.Subjects) != 1 || v.RoleRef.Name != v.Name || v.RoleRef.Kind != "ClusterRole" {
						t.Errorf("%s: %+v", obj.ID(), v)
						continue
					}
					bound[obj.Exporter()] = v.Subjects[0]
				case *corev1.ServiceAccount:
					sas[v.Namespace+"/"+v.Name] = true
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ClusterRole rules:\n got %+v\nwant %+v", got, tc.want)
			}
			for e := range tc.want {
				s := bound[e]
				if s.Kind != "ServiceAccount" || s.Name != e+"-exporter" || !sas[s.Namespace+"/"+s.Name] {
					t.Errorf("%s: bound to %+v, not to its own service account", e, s)
				}
			}
			if len(bound) != len(tc.want) {
				t.Errorf("%d bindings, want %d", len(bound), len(tc.want))
			}
		})
	}
}

func checkRules(t *testing.T, r *rbacv1.ClusterRole) {
	t.Helper()
	read := map[string]bool{"get": true, "list": true, "watch": true}
	for _, rule := range r.Rules {
		for _, s := range slices.Concat(rule.APIGroups, rule.Resources, rule.Verbs, rule.NonResourceURLs) {
			if strings.Contains(s, "*") {
				t.Errorf("%s: wildcard in %+v", r.Name, rule)
			}
		}
		for _, res := range rule.Resources {
			if res == "secrets" || res == "nodes/proxy" || strings.HasPrefix(res, "pods/") {
				t.Errorf("%s: grants %s", r.Name, res)
			}
		}
		for _, v := range rule.Verbs {
			if !read[v] {
				t.Errorf("%s: grants %s", r.Name, v)
			}
		}
	}
}

// TestDefaultObjects pins what `helm install` with the default values
// creates on a cluster with the Prometheus Operator.
func TestDefaultObjects(t *testing.T) {
	var got []string
	for _, obj := range render(t, Options{APIVersions: MonitoringAPI}) {
		got = append(got, obj.ID())
	}
	want := []string{
		"Namespace bpfleet-node", "Namespace bpfleet",
		"ServiceAccount bpfleet-node/kernel-exporter", "ServiceAccount bpfleet-node/dns-exporter", "ServiceAccount bpfleet-node/cni-exporter", "ServiceAccount bpfleet-node/cri-exporter",
		"ServiceAccount bpfleet/kubelet-exporter", "ServiceAccount bpfleet/kubeapi-exporter",
		"ConfigMap bpfleet/bpfleet-kernel-dashboards", "ConfigMap bpfleet/bpfleet-dns-dashboards", "ConfigMap bpfleet/bpfleet-cni-dashboards", "ConfigMap bpfleet/bpfleet-cri-dashboards", "ConfigMap bpfleet/bpfleet-kubeapi-dashboards", "ConfigMap bpfleet/bpfleet-kubelet-dashboards",
		"ClusterRole bpfleet-kubelet-exporter", "ClusterRole bpfleet-kubeapi-exporter",
		"ClusterRoleBinding bpfleet-kubelet-exporter", "ClusterRoleBinding bpfleet-kubeapi-exporter",
		"DaemonSet bpfleet-node/kernel-exporter", "DaemonSet bpfleet-node/dns-exporter", "DaemonSet bpfleet-node/cni-exporter", "DaemonSet bpfleet-node/cri-exporter", "DaemonSet bpfleet/kubelet-exporter",
		"Deployment bpfleet/kubeapi-exporter-shard-0",
		"PodMonitor bpfleet-node/kernel-exporter", "PodMonitor bpfleet-node/dns-exporter", "PodMonitor bpfleet-node/cni-exporter", "PodMonitor bpfleet-node/cri-exporter", "PodMonitor bpfleet/kubelet-exporter", "PodMonitor bpfleet/kubeapi-exporter",
		"PrometheusRule bpfleet-node/kernel-exporter", "PrometheusRule bpfleet-node/dns-exporter", "PrometheusRule bpfleet-node/cni-exporter", "PrometheusRule bpfleet-node/cri-exporter", "PrometheusRule bpfleet/kubeapi-exporter", "PrometheusRule bpfleet/kubelet-exporter",
	}
	sort.Strings(got)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("objects:\n got %q\nwant %q", got, want)
	}
}

// TestShards: kubeapi's sharding flags, one Deployment per shard with a
// selector of its own.
func TestShards(t *testing.T) {
	objs := render(t, Options{Values: Merge(Only("kubeapi"), map[string]any{"exporters": map[string]any{"kubeapi": map[string]any{"shards": 3}}})})
	var got [][]string
	selectors := map[string]bool{}
	for _, obj := range objs {
		if tpl := obj.PodTemplate(); tpl != nil {
			got = append(got, tpl.Spec.Containers[0].Args)
			sel := metav1.FormatLabelSelector(obj.Typed.(*appsv1.Deployment).Spec.Selector)
			selectors[sel] = true
		}
	}
	want := [][]string{{"--shard=0", "--total-shards=3"}, {"--shard=1", "--total-shards=3"}, {"--shard=2", "--total-shards=3"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("args %q, want %q", got, want)
	}
	if len(selectors) != 3 {
		t.Errorf("selectors %v: want 3 distinct", selectors)
	}
}

// TestManifestsUpToDate: the chart carries the mixins as rendered in
// mixins/, and deploy/manifests is what the chart renders (`make
// manifests` regenerates both).
func TestManifestsUpToDate(t *testing.T) {
	if err := SyncMixins(Root(), true); err != nil {
		t.Error(err)
	}
	files, err := Manifests(ChartDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(Exporters)+1 {
		t.Errorf("%d manifests, want %d", len(files), len(Exporters)+1)
	}
	for name, data := range files {
		if !bytes.HasPrefix(data, []byte("# Generated by `make manifests`")) || !bytes.Contains(data, []byte("Do not edit")) {
			t.Errorf("%s: no generated-file header", name)
		}
	}
	if err := WriteManifests(ManifestsDir(), files, true); err != nil {
		t.Error(err)
	}
}

// TestValuesSchema: values.schema.json rejects a misspelt or ill-typed
// value with a message naming it, instead of ignoring it.
func TestValuesSchema(t *testing.T) {
	for _, tc := range []struct {
		values map[string]any
		want   string
	}{
		{map[string]any{"exporters": map[string]any{"kernel": map[string]any{"enabeld": true}}}, "enabeld"},
		{map[string]any{"exporters": map[string]any{"kubeapi": map[string]any{"shards": 0}}}, "shards"},
		{map[string]any{"exporters": map[string]any{"dns": map[string]any{"ports": []any{53, 70000}}}}, "ports"},
		{map[string]any{"exporters": map[string]any{"nope": map[string]any{"enabled": true}}}, "nope"},
		{map[string]any{"criSocket": "run/containerd.sock"}, "criSocket"},
		{map[string]any{"namespaces": map[string]any{"privileged": "Not_A_Name"}}, "privileged"},
	} {
		_, err := Render(ChartDir(), Options{Values: tc.values})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("values %v: error %v, want one naming %q", tc.values, err, tc.want)
		}
	}
}

// TestHelmLint runs `helm lint`'s rules in process on the chart, with the
// default values and with every exporter on: nothing above INFO.
func TestHelmLint(t *testing.T) {
	for _, vals := range []map[string]any{nil, allOn()} {
		l := lint.RunAll(ChartDir(), vals, "default")
		for _, m := range l.Messages {
			if m.Severity > support.InfoSev {
				t.Errorf("helm lint: %v", m)
			}
		}
	}
}

// TestChartArgsAccepted runs each real exporter binary with the flags the
// chart gives it (every option that adds one turned on), then --version:
// an unknown flag or a bad value fails the parse before --version exits 0.
func TestChartArgsAccepted(t *testing.T) {
	vals := Merge(allOn(), map[string]any{"exporters": map[string]any{
		"kubelet": map[string]any{"podLimits": true, "caConfigMap": "kubelet-ca"},
		"kubeapi": map[string]any{"shards": 2},
	}})
	args := map[string][]string{}
	for _, obj := range render(t, Options{Values: vals}) {
		if tpl := obj.PodTemplate(); tpl != nil {
			args[obj.Exporter()] = tpl.Spec.Containers[0].Args
		}
	}
	dir := t.TempDir()
	for _, e := range Exporters {
		bin, err := BuildBinary(Root(), e, "1.0.0", "test")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, e+"_exporter")
		if err := os.WriteFile(path, bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if len(args[e]) == 0 && e != "systemd" {
			t.Errorf("%s: no args rendered", e)
		}
		out, err := exec.Command(path, append(append([]string{}, args[e]...), "--version")...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), e+"_exporter, version 1.0.0") {
			t.Errorf("%s %q --version: %v\n%s", e, args[e], err, out)
		}
		// The systemd unit's flags too.
		unit, err := os.ReadFile(filepath.Join(Root(), "deploy", "systemd", e+"_exporter.service"))
		if err != nil {
			t.Fatal(err)
		}
		exec0 := serviceSection(t, unit)["ExecStart"]
		unitArgs := strings.Fields(exec0)[1:]
		out, err = exec.Command(path, append(unitArgs, "--version")...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), e+"_exporter, version 1.0.0") {
			t.Errorf("%s unit: %q --version: %v\n%s", e, exec0, err, out)
		}
	}
	// The check can fail: an unknown flag is refused.
	out, err := exec.Command(filepath.Join(dir, "kernel_exporter"), "--no-such-flag", "--version").CombinedOutput()
	if err == nil {
		t.Errorf("kernel_exporter accepted --no-such-flag:\n%s", out)
	}
}
