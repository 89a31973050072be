package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfleet/bpfleet/kubeapi_exporter/kubetest"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PrometheusOperatorVersion is the release whose CRDs
// scripts/test-deps.d/deploy.sh copies into the cache.
const PrometheusOperatorVersion = "v0.85.0"

func crdDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(kubetest.Cache(), "prometheus-operator-crds-"+PrometheusOperatorVersion)
	for _, f := range []string{"monitoring.coreos.com_podmonitors.yaml", "monitoring.coreos.com_prometheusrules.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			if os.Geteuid() != 0 {
				t.Skipf("%s missing and not root: run scripts/test-deps.d/deploy.sh as root", dir)
			}
			t.Fatalf("%s missing: run scripts/test-deps.d/deploy.sh (make test-deps): %v", f, err)
		}
	}
	return dir
}

// TestAgainstAPIServer checks the generated manifests and the chart's pod
// templates against a real kube-apiserver v1.37 (with etcd) and the
// Prometheus Operator's CRDs: every manifest passes `kubectl apply
// --dry-run=server`; Pod Security admission admits a Pod built from each
// template in its own namespace and rejects each eBPF exporter's in a
// `baseline` namespace with exactly the reasons the evaluator gave; and
// each service account can do what its exporter needs and nothing more
// (SubjectAccessReview, as `kubectl auth can-i`).
func TestAgainstAPIServer(t *testing.T) {
	crds := crdDir(t)
	kubectlPath, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl: %v", err)
	}
	c := kubetest.Start(t)
	kubeconfig := c.Kubeconfig(t, kubetest.AdminToken, c.URL())
	kubectl := func(args ...string) (string, error) {
		cmd := exec.Command(kubectlPath, append([]string{"--kubeconfig", kubeconfig}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	if out, err := kubectl("apply", "-f", crds); err != nil {
		t.Fatalf("applying the CRDs: %v\n%s", err, out)
	}
	if out, err := kubectl("wait", "--for=condition=Established", "--timeout=60s",
		"crd/podmonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com"); err != nil {
		t.Fatalf("waiting for the CRDs: %v\n%s", err, out)
	}

	// Every manifest, server-side dry run, then for real. A dry run
	// creates no namespace, so the manifests' namespaces are made first.
	files, err := Manifests(ChartDir())
	if err != nil {
		t.Fatal(err)
	}
	var namespaces bytes.Buffer
	for _, name := range Exporters {
		for _, doc := range SplitDocuments(string(files[name+".yaml"])) {
			if o, err := Decode([]byte(doc)); err == nil && o.Kind == "Namespace" {
				namespaces.WriteString("---\n" + doc)
			}
		}
	}
	nsFile := filepath.Join(t.TempDir(), "namespaces.yaml")
	if err := os.WriteFile(nsFile, namespaces.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := kubectl("apply", "-f", nsFile); err != nil {
		t.Fatalf("creating the namespaces: %v\n%s", err, out)
	}
	order := append(append([]string{}, Exporters...), "monitoring")
	for _, name := range order {
		path := filepath.Join(ManifestsDir(), name+".yaml")
		objs := 0
		for _, doc := range SplitDocuments(string(files[name+".yaml"])) {
			if _, err := Decode([]byte(doc)); err != nil {
				t.Fatal(err)
			}
			objs++
		}
		out, err := kubectl("apply", "--dry-run=server", "-f", path)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		dry := 0
		for _, l := range lines {
			if strings.HasSuffix(l, "(server dry run)") {
				dry++
			}
		}
		if err != nil || dry != objs {
			t.Errorf("%s: kubectl apply --dry-run=server: %v; %d of %d objects accepted:\n%s", name, err, dry, objs, out)
			continue
		}
		if out, err := kubectl("apply", "-f", path); err != nil {
			t.Errorf("%s: kubectl apply: %v\n%s", name, err, out)
		}
	}

	ctx := context.Background()
	// A namespace enforcing baseline, with the exporters' service accounts.
	const baselineNS = "bpfleet-baseline"
	_, err = c.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: baselineNS, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/enforce-version": "latest",
	}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range Exporters {
		if _, err := c.Admin.CoreV1().ServiceAccounts(baselineNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: e + "-exporter"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	seen := 0
	for _, obj := range render(t, Options{Values: Merge(allOn(), map[string]any{"exporters": map[string]any{"etcd": map[string]any{"tlsSecret": ""}}})}) {
		tpl := obj.PodTemplate()
		if tpl == nil {
			continue
		}
		e := obj.Exporter()
		seen++
		pod := &corev1.Pod{ObjectMeta: *tpl.ObjectMeta.DeepCopy(), Spec: *tpl.Spec.DeepCopy()}
		pod.Name = obj.Name
		dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
		if _, err := c.Admin.CoreV1().Pods(obj.Namespace).Create(ctx, pod, dry); err != nil {
			t.Errorf("%s: a Pod from its template is rejected in %s: %v", obj.ID(), obj.Namespace, err)
		}
		_, err := c.Admin.CoreV1().Pods(baselineNS).Create(ctx, pod, dry)
		want := ""
		if r := baselineRejections[e]; r != nil {
			want = fmt.Sprintf(`pods %q is forbidden: violates PodSecurity "baseline:latest": %s`, obj.Name, strings.Join(r, ", "))
		}
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: rejected at baseline: %v", obj.ID(), err)
		case want != "" && (err == nil || !apierrors.IsForbidden(err) || err.Error() != want):
			t.Errorf("%s at baseline:\n got %v\nwant %s", obj.ID(), err, want)
		}
	}
	if seen != len(Exporters) {
		t.Errorf("%d pod templates, want %d", seen, len(Exporters))
	}

	// What each service account may do: yes for what its exporter needs,
	// no for one step more.
	type check struct {
		verb, group, resource, sub string
		allowed                    bool
	}
	no := func(verb, group, resource, sub string) check { return check{verb, group, resource, sub, false} }
	yes := func(verb, group, resource, sub string) check { return check{verb, group, resource, sub, true} }
	common := []check{no("get", "", "secrets", ""), no("list", "", "secrets", ""), no("get", "", "nodes", "proxy"), no("create", "", "pods", "exec"), no("create", "", "pods", "")}
	want := map[string][]check{
		"kubeapi": {yes("list", "", "events", ""), yes("watch", "", "events", ""), yes("list", "", "pods", ""), yes("watch", "", "pods", ""),
			yes("list", "", "configmaps", ""), yes("watch", "", "services", ""), yes("list", "apps", "deployments", ""), yes("watch", "apps", "replicasets", ""),
			yes("list", "apps", "statefulsets", ""), yes("watch", "apps", "daemonsets", ""),
			no("get", "", "pods", ""), no("list", "", "nodes", ""), no("delete", "", "events", ""), no("list", "apps", "controllerrevisions", ""), no("get", "", "nodes", "stats")},
		"kubelet": {yes("get", "", "nodes", "stats"), no("get", "", "nodes", "pods"), no("get", "", "nodes", "metrics"), no("get", "", "nodes", "log"), no("list", "", "pods", ""), no("list", "", "nodes", "")},
	}
	for _, e := range []string{"kernel", "dns", "cni", "cri", "systemd", "etcd"} {
		want[e] = []check{no("list", "", "pods", ""), no("get", "", "nodes", "stats"), no("watch", "", "events", "")}
	}
	for _, e := range Exporters {
		ns := "bpfleet"
		if golden[e].Level == "privileged" {
			ns = "bpfleet-node"
		}
		user := fmt.Sprintf("system:serviceaccount:%s:%s-exporter", ns, e)
		for _, ch := range append(want[e], common...) {
			sar, err := c.Admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
				User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
				ResourceAttributes: &authzv1.ResourceAttributes{Verb: ch.verb, Group: ch.group, Resource: ch.resource, Subresource: ch.sub, Namespace: ""},
			}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sar.Status.Allowed != ch.allowed {
				t.Errorf("%s: %s %s/%s/%s allowed %v, want %v (%s)", user, ch.verb, ch.group, ch.resource, ch.sub, sar.Status.Allowed, ch.allowed, sar.Status.Reason)
			}
		}
	}
}
