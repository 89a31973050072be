package deploy

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bpfleet/bpfleet/internal/testenv"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func license(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Root(), "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("Apache License\n                           Version 2.0, January 2004")) {
		t.Fatal("LICENSE is not the Apache License 2.0")
	}
	return b
}

// untarLayout unpacks an OCI layout archive into a directory and returns
// its index, after go-containerregistry's validation of every digest,
// size and config.
func untarLayout(t testing.TB, archive []byte) v1.ImageIndex {
	t.Helper()
	dir := t.TempDir()
	r := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("invalid image layout: %v", err)
	}
	return idx
}

// TestImages builds every exporter's image around a stand-in binary (the
// bytes do not matter here; TestImageRunsInContainerd runs a real one):
// the same inputs give the same bytes, the layout is valid, and each
// image's user and port are what the chart's pods expect.
func TestImages(t *testing.T) {
	lic := license(t)
	objs := render(t, Options{Values: allOn()})
	for _, e := range Exporters {
		spec := ImageSpec{Exporter: e, Version: "1.2.3", Revision: "abc", Binary: []byte("#!binary " + e), License: lic, Registry: "example.org/bpfleet"}
		a, err := BuildImage(spec)
		if err != nil {
			t.Fatal(err)
		}
		b, err := BuildImage(spec)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two builds differ", e)
		}
		idx := untarLayout(t, a)
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(im.Manifests) != 1 || im.Manifests[0].Annotations["io.containerd.image.name"] != "example.org/bpfleet/"+e+"_exporter:1.2.3" {
			t.Fatalf("%s: index %+v", e, im)
		}
		img, err := idx.Image(im.Manifests[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		var tpl *Object
		for i := range objs {
			if objs[i].PodTemplate() != nil && objs[i].Exporter() == e {
				tpl = &objs[i]
			}
		}
		pod := tpl.PodTemplate().Spec
		wantUser := fmt.Sprintf("%d:%d", *pod.SecurityContext.RunAsUser, *pod.SecurityContext.RunAsGroup)
		wantPort := fmt.Sprintf("%d/tcp", pod.Containers[0].Ports[0].ContainerPort)
		if cf.Config.User != wantUser || !reflect.DeepEqual(cf.Config.Entrypoint, []string{"/bin/" + e + "_exporter"}) ||
			len(cf.Config.ExposedPorts) != 1 || cf.Config.ExposedPorts[wantPort] != struct{}{} || cf.OS != "linux" || cf.Architecture != "amd64" {
			t.Errorf("%s: config %+v; want user %s, port %s", e, cf.Config, wantUser, wantPort)
		}
		if golden[e].Level == "privileged" && wantUser != "0:0" || golden[e].Level == "restricted" && wantUser != "65532:65532" {
			t.Errorf("%s: user %s for level %s", e, wantUser, golden[e].Level)
		}
		layers, err := img.Layers()
		if err != nil || len(layers) != 1 {
			t.Fatalf("%s: %d layers, %v", e, len(layers), err)
		}
		rc, err := layers[0].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		files := map[string]string{}
		r := tar.NewReader(rc)
		for {
			h, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(r)
			files[h.Name] = fmt.Sprintf("%o %d:%d %s", h.Mode, h.Uid, h.Gid, data)
			if !h.ModTime.Equal(time.Unix(0, 0)) {
				t.Errorf("%s: %s has time %v", e, h.Name, h.ModTime)
			}
		}
		rc.Close()
		if got, want := files["bin/"+e+"_exporter"], "755 0:0 #!binary "+e; got != want {
			t.Errorf("%s: binary entry %q, want %q", e, got, want)
		}
		if !strings.HasPrefix(files["etc/passwd"], "644 0:0 root:x:0:0:") || !strings.Contains(files["etc/passwd"], "nonroot:x:65532:65532:") {
			t.Errorf("%s: /etc/passwd %q", e, files["etc/passwd"])
		}
		if len(files) != 15 {
			t.Errorf("%s: %d entries in the layer, want 15: %v", e, len(files), files)
		}
	}
	if _, err := BuildImage(ImageSpec{Exporter: "nope", Version: "1", Binary: []byte{1}, Registry: "r"}); err == nil {
		t.Error("unknown exporter: no error")
	}
	if _, err := BuildImage(ImageSpec{Exporter: "kernel", Version: "1", Registry: "r"}); err == nil {
		t.Error("no binary: no error")
	}
}

// TestImageRunsInContainerd builds the real etcd_exporter twice (the same
// bytes), imports its image into a real containerd with `ctr -n k8s.io
// images import`, checks the user the runtime reads from it, and runs it
// through CRI as the kubelet would: its --version exits 0 in the image,
// which has no base: the binary is static.
func TestImageRunsInContainerd(t *testing.T) {
	ctd := testenv.StartContainerd(t)
	bin, err := BuildBinary(Root(), "etcd", "9.8.7", "deadbeef")
	if err != nil {
		t.Fatal(err)
	}
	again, err := BuildBinary(Root(), "etcd", "9.8.7", "deadbeef")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bin, again) {
		t.Errorf("two builds of etcd_exporter differ (%d and %d bytes)", len(bin), len(again))
	}
	spec := ImageSpec{Exporter: "etcd", Version: "9.8.7", Revision: "deadbeef", Binary: bin, License: license(t), Registry: "bpfleet.test/bpfleet"}
	archive, err := BuildImage(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctr := exec.Command("ctr", "--address", strings.TrimPrefix(ctd.Endpoint, "unix://"), "-n", "k8s.io", "images", "import", "--snapshotter", "overlayfs", "-")
	ctr.Stdin = bytes.NewReader(archive)
	if out, err := ctr.CombinedOutput(); err != nil {
		t.Fatalf("ctr images import: %v: %s", err, out)
	}
	conn := ctd.Runtime
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cc, err := grpc.NewClient(ctd.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	images := runtimeapi.NewImageServiceClient(cc)
	st, err := images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: spec.Name()}})
	if err != nil || st.GetImage() == nil {
		t.Fatalf("ImageStatus %s: %v %v", spec.Name(), st, err)
	}
	if st.GetImage().GetUid().GetValue() != NonRootUID {
		t.Errorf("image uid %v, want %d", st.GetImage().GetUid(), NonRootUID)
	}
	pod := ctd.RunPod(t, testenv.PodSpec{Namespace: "bpfleet", Name: "etcd-exporter"})
	ro := true
	cfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "etcd-exporter"},
		Image:    &runtimeapi.ImageSpec{Image: spec.Name()},
		Args:     []string{"--version"},
		LogPath:  "etcd-exporter_0.log",
		Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
			ReadonlyRootfs: ro, NoNewPrivs: true, RunAsUser: &runtimeapi.Int64Value{Value: NonRootUID},
			Capabilities: &runtimeapi.Capability{DropCapabilities: []string{"ALL"}},
		}},
	}
	created, err := conn.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.ID, Config: cfg, SandboxConfig: pod.Config})
	if err != nil {
		t.Fatalf("CreateContainer: %v\n%s", err, ctd.Log())
	}
	if _, err := conn.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: created.GetContainerId()}); err != nil {
		t.Fatalf("StartContainer: %v\n%s", err, ctd.Log())
	}
	status := ctd.WaitExited(t, created.GetContainerId())
	log, err := os.ReadFile(status.GetLogPath())
	if err != nil {
		t.Fatal(err)
	}
	if status.GetExitCode() != 0 || !strings.Contains(string(log), "etcd_exporter, version 9.8.7 (branch: release, revision: deadbeef)") {
		t.Errorf("exit code %d, log:\n%s", status.GetExitCode(), log)
	}
}
