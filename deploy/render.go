package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// Exporters lists every exporter the chart deploys, in the chart's order.
var Exporters = []string{"kernel", "dns", "cni", "cri", "systemd", "kubelet", "kubeapi", "etcd"}

// MonitoringAPI is the API group version of the Prometheus Operator's
// PodMonitor and PrometheusRule; the chart renders them only when the
// cluster serves it.
var MonitoringAPI = []string{"monitoring.coreos.com/v1", "monitoring.coreos.com/v1/PodMonitor", "monitoring.coreos.com/v1/PrometheusRule"}

// Root is the repository's root directory (the parent of deploy/).
func Root() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("deploy: no caller information")
	}
	return filepath.Dir(filepath.Dir(file))
}

// ChartDir is the chart's directory.
func ChartDir() string { return filepath.Join(Root(), "deploy", "helm", "bpfleet") }

// Object is one rendered Kubernetes object.
type Object struct {
	Template   string // the chart template it came from, e.g. bpfleet/templates/workloads.yaml
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	YAML       []byte // the document as rendered
	// Typed is the document decoded strictly (unknown fields are errors)
	// into its k8s.io/api or Prometheus Operator type.
	Typed any
}

// ID is "Kind namespace/name".
func (o Object) ID() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// Options are the inputs of one rendering.
type Options struct {
	// Values override the chart's values.yaml, as `helm --values` would.
	Values map[string]any
	// APIVersions are added to the cluster's capabilities (e.g.
	// MonitoringAPI), as `helm template --api-versions` would.
	APIVersions []string
	// Release name; default "bpfleet".
	Release string
}

// Render renders the chart in chartDir with helm's own packages, as `helm
// template` does, and decodes every document strictly into its type.
func Render(chartDir string, o Options) ([]Object, error) {
	files, err := RenderFiles(chartDir, o)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var objs []Object
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		for _, doc := range SplitDocuments(files[name]) {
			obj, err := Decode([]byte(doc))
			if err != nil {
				return nil, fmt.Errorf("%s: %w\n%s", name, err, doc)
			}
			obj.Template = name
			objs = append(objs, obj)
		}
	}
	// Helm's install order: namespaces first, workloads after what they use.
	sort.SliceStable(objs, func(i, j int) bool { return kindOrder[objs[i].Kind] < kindOrder[objs[j].Kind] })
	return objs, nil
}

var kindOrder = map[string]int{
	"Namespace": 1, "ServiceAccount": 2, "ConfigMap": 3, "ClusterRole": 4, "ClusterRoleBinding": 5,
	"DaemonSet": 6, "Deployment": 7, "PodMonitor": 8, "PrometheusRule": 9,
}

// RenderFiles renders the chart and returns each template's output by name.
func RenderFiles(chartDir string, o Options) (map[string]string, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	caps := common.DefaultCapabilities.Copy()
	caps.APIVersions = append(append(common.VersionSet{}, caps.APIVersions...), o.APIVersions...)
	kv, err := common.ParseKubeVersion("v1.37.2")
	if err != nil {
		return nil, err
	}
	caps.KubeVersion = *kv
	release := o.Release
	if release == "" {
		release = "bpfleet"
	}
	vals, err := util.ToRenderValuesWithSchemaValidation(ch, o.Values, common.ReleaseOptions{
		Name: release, Namespace: "default", Revision: 1, IsInstall: true,
	}, caps, false)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	return engine.Engine{}.Render(ch, vals)
}

// SplitDocuments splits a YAML stream at its "---" lines and drops the
// documents that hold nothing but comments and blank lines.
func SplitDocuments(s string) []string {
	var docs []string
	var cur []string
	flush := func() {
		lines := cur
		cur = nil
		for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
			lines = lines[1:]
		}
		for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
			lines = lines[:len(lines)-1]
		}
		for _, line := range lines {
			t := strings.TrimSpace(line)
			if t != "" && !strings.HasPrefix(t, "#") {
				docs = append(docs, strings.Join(lines, "\n")+"\n")
				return
			}
		}
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimRight(line, " \t") == "---" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return docs
}

// Decode decodes one YAML document strictly into its type: a field the type
// does not have is an error, as is a kind this chart does not render.
func Decode(doc []byte) (Object, error) {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return Object{}, err
	}
	var typed any
	switch meta.APIVersion + " " + meta.Kind {
	case "v1 Namespace":
		typed = &corev1.Namespace{}
	case "v1 ServiceAccount":
		typed = &corev1.ServiceAccount{}
	case "v1 ConfigMap":
		typed = &corev1.ConfigMap{}
	case "apps/v1 DaemonSet":
		typed = &appsv1.DaemonSet{}
	case "apps/v1 Deployment":
		typed = &appsv1.Deployment{}
	case "rbac.authorization.k8s.io/v1 ClusterRole":
		typed = &rbacv1.ClusterRole{}
	case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
		typed = &rbacv1.ClusterRoleBinding{}
	case "monitoring.coreos.com/v1 PodMonitor":
		typed = &monitoringv1.PodMonitor{}
	case "monitoring.coreos.com/v1 PrometheusRule":
		typed = &monitoringv1.PrometheusRule{}
	default:
		return Object{}, fmt.Errorf("unexpected object %q %q", meta.APIVersion, meta.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, typed); err != nil {
		return Object{}, fmt.Errorf("%s %s: %w", meta.Kind, meta.Metadata.Name, err)
	}
	if meta.Metadata.Name == "" {
		return Object{}, fmt.Errorf("%s without a name", meta.Kind)
	}
	return Object{
		APIVersion: meta.APIVersion, Kind: meta.Kind,
		Name: meta.Metadata.Name, Namespace: meta.Metadata.Namespace,
		YAML: doc, Typed: typed,
	}, nil
}

// PodTemplate returns the pod template of a DaemonSet or Deployment, else nil.
func (o Object) PodTemplate() *corev1.PodTemplateSpec {
	switch t := o.Typed.(type) {
	case *appsv1.DaemonSet:
		return &t.Spec.Template
	case *appsv1.Deployment:
		return &t.Spec.Template
	}
	return nil
}

// Exporter is the exporter an object belongs to (its
// app.kubernetes.io/name label without "-exporter"), or "".
func (o Object) Exporter() string {
	var m struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(o.YAML, &m); err != nil {
		return ""
	}
	return strings.TrimSuffix(m.Metadata.Labels["app.kubernetes.io/name"], "-exporter")
}

// Only returns chart values that enable exactly the named exporters.
func Only(names ...string) map[string]any {
	ex := map[string]any{}
	for _, e := range Exporters {
		on := false
		for _, n := range names {
			on = on || n == e
		}
		ex[e] = map[string]any{"enabled": on}
	}
	return map[string]any{"exporters": ex}
}

// Merge merges b into a (maps recursively; b wins) and returns a.
func Merge(a, b map[string]any) map[string]any {
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := a[k].(map[string]any); ok {
				a[k] = Merge(am, bm)
				continue
			}
		}
		a[k] = v
	}
	return a
}

// MixinFiles lists the files of the mixins that the chart carries under
// files/mixins/: each exporter's alerts.yaml, rules.yaml and
// dashboards/*.json, as paths relative to mixins/.
func MixinFiles(mixinsDir string) ([]string, error) {
	var out []string
	for _, e := range Exporters {
		for _, pattern := range []string{"alerts.yaml", "rules.yaml", "dashboards/*.json"} {
			m, err := filepath.Glob(filepath.Join(mixinsDir, e, pattern))
			if err != nil {
				return nil, err
			}
			for _, p := range m {
				rel, err := filepath.Rel(mixinsDir, p)
				if err != nil {
					return nil, err
				}
				out = append(out, rel)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// SyncMixins copies the rendered mixins into the chart (files/mixins/),
// removing files there that the mixins no longer have. With check, it
// changes nothing and returns an error naming every difference.
func SyncMixins(root string, check bool) error {
	src := filepath.Join(root, "mixins")
	dst := filepath.Join(root, "deploy", "helm", "bpfleet", "files", "mixins")
	want, err := MixinFiles(src)
	if err != nil {
		return err
	}
	wanted := map[string]bool{}
	var stale []string
	for _, rel := range want {
		wanted[rel] = true
		data, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			return err
		}
		have, err := os.ReadFile(filepath.Join(dst, rel))
		if err == nil && bytes.Equal(have, data) {
			continue
		}
		stale = append(stale, rel)
		if check {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, rel), data, 0o644); err != nil {
			return err
		}
	}
	err = filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dst, p)
		if err != nil {
			return err
		}
		if wanted[rel] {
			return nil
		}
		stale = append(stale, rel+" (not in mixins/)")
		if check {
			return nil
		}
		return os.Remove(p)
	})
	if err != nil {
		return err
	}
	if check && len(stale) > 0 {
		return fmt.Errorf("deploy/helm/bpfleet/files/mixins differs from mixins/ (run make manifests): %s", strings.Join(stale, ", "))
	}
	return nil
}
