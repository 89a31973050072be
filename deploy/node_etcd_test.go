package deploy

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// etcdKeyspace deploys etcd_exporter's Deployment against the cluster's
// own etcd, the API server's storage. The chart renders it with the values
// a user of an http:// etcd gives (exporters.etcd.enabled, endpoints and
// tlsSecret ""), as `helm template` would: this etcd serves plain HTTP, on
// loopback only, so the endpoint is the node's forwarder on the bridge
// (ControlPlane.Forward), where a real cluster has its etcd's address.
// The keyspace pass at the exporter's start counts exactly the ConfigMaps
// the API server lists under /registry/configmaps/; then its watch counts
// exactly the 3 ConfigMaps created and the 1 deleted.
func (n *nodeEnv) etcdKeyspace(t *testing.T) {
	ctx := context.Background()
	const (
		ns      = "keys"
		created = 3
		prefix  = "/registry/configmaps/"
	)
	// The namespace first: the root-ca-cert-publisher puts its
	// kube-root-ca.crt ConfigMap.
	n.node.Namespace(t, ns)
	n.node.Eventually(t, "kube-root-ca.crt in "+ns, func() error {
		_, err := n.node.Cluster.Admin.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err
	})
	port := n.cp.Forward(t, strings.TrimPrefix(n.node.Cluster.EtcdURL, "http://"))
	endpoint := "http://" + net.JoinHostPort(n.cp.PodGateway.String(), strconv.Itoa(port))
	vals := Merge(Only("etcd"), map[string]any{
		"dashboards": map[string]any{"enabled": false},
		"exporters":  map[string]any{"etcd": map[string]any{"endpoints": endpoint, "tlsSecret": ""}},
	})
	objs, err := Render(ChartDir(), Options{Values: vals})
	if err != nil {
		t.Fatal(err)
	}
	m := string(joinManifest("etcd_exporter", objs))
	if !strings.Contains(m, "- --etcd.endpoints="+endpoint+"\n") || strings.Contains(m, "--etcd.cacert") {
		t.Fatalf("the rendered etcd_exporter does not dial %s without TLS:\n%s", endpoint, m)
	}
	n.manifests["etcd"] = m
	n.importImage(t, "etcd", m)
	cms, err := n.node.Cluster.Admin.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := len(cms.Items)
	n.kubectl(t, m, "apply", "-f", "-")
	pod := n.exporterPod(t, "etcd", true, "")
	mfs := n.scrapeCollectors(t, pod, "etcd", []string{"keyspace", "lease"})
	success := collectorValues(mfs, "etcd_scrape_collector_success")
	if success["keyspace"] != 1 || success["lease"] != 1 {
		t.Fatalf("collectors succeeding %v; log:\n%s", success, n.containerLog(t, pod))
	}
	n.node.Eventually(t, "the first keyspace pass", func() error {
		mfs = n.scrapeCollectors(t, pod, "etcd", nil)
		if _, cnt := sumOf(mfs, "etcd_keyspace_keys", "prefix", prefix); cnt != 1 {
			return fmt.Errorf("no etcd_keyspace_keys{prefix=%q} yet", prefix)
		}
		return nil
	})
	if got, _ := sumOf(mfs, "etcd_keyspace_keys", "prefix", prefix); got != float64(before) {
		t.Errorf("etcd_keyspace_keys{prefix=%q} = %v, want the %d ConfigMaps the API server lists", prefix, got, before)
	}

	for i := range created {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("k%d", i)}, Data: map[string]string{"i": fmt.Sprint(i)}}
		if _, err := n.node.Cluster.Admin.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.node.Cluster.Admin.CoreV1().ConfigMaps(ns).Delete(ctx, "k0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	check := func() error {
		mfs := n.scrapeCollectors(t, pod, "etcd", nil)
		puts, _ := sumOf(mfs, "etcd_keyspace_puts_total", "prefix", prefix)
		dels, _ := sumOf(mfs, "etcd_keyspace_deletes_total", "prefix", prefix)
		if puts > created || dels > 1 {
			t.Fatalf("etcd_keyspace_puts_total = %v, etcd_keyspace_deletes_total = %v of %s: more than %d and 1", puts, dels, prefix, created)
		}
		if puts != created || dels != 1 {
			return fmt.Errorf("etcd_keyspace_puts_total = %v, etcd_keyspace_deletes_total = %v of %s, want %d and 1", puts, dels, prefix, created)
		}
		return nil
	}
	n.node.Eventually(t, "the ConfigMaps' puts and delete counted", check)
	if err := check(); err != nil {
		t.Error(err)
	}
}
