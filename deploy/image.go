package deploy

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NonRootUID is the user the API readers' images run as (distroless's
// "nonroot").
const NonRootUID = 65532

// ImageSpec describes one exporter's image.
type ImageSpec struct {
	Exporter string // kernel, dns, ...
	Version  string // image tag and org.opencontainers.image.version
	Revision string // org.opencontainers.image.revision; optional
	Binary   []byte // the static exporter binary
	License  []byte // the LICENSE file, installed at /usr/share/doc/bpfleet/LICENSE
	Registry string // image name prefix, e.g. docker.io/bpfleet
}

// Name is the image's reference, <Registry>/<exporter>_exporter:<Version>.
func (s ImageSpec) Name() string {
	return fmt.Sprintf("%s/%s_exporter:%s", s.Registry, s.Exporter, s.Version)
}

// epoch is every timestamp in the image: the same inputs give the same bytes.
var epoch = time.Unix(0, 0).UTC()

// BuildImage returns an OCI image layout, as a tar archive, holding one
// image: a single layer with the binary at /bin/<exporter>_exporter, a
// minimal /etc/passwd and /etc/group (root and nonroot), /tmp and the
// licence, on no base at all. The eBPF exporters run as uid 0 (their pods
// add only their capabilities), the API readers as NonRootUID. Every
// timestamp is the Unix epoch and every list sorted, so the archive is the
// same bytes for the same inputs. `ctr -n k8s.io images import` names it
// Name() (the index's io.containerd.image.name annotation).
func BuildImage(s ImageSpec) ([]byte, error) {
	facts, ok := imageFacts[s.Exporter]
	if !ok {
		return nil, fmt.Errorf("unknown exporter %q", s.Exporter)
	}
	if len(s.Binary) == 0 || s.Version == "" || s.Registry == "" {
		return nil, fmt.Errorf("%s: binary, version and registry are required", s.Exporter)
	}
	bin := "/bin/" + s.Exporter + "_exporter"
	layerTar, err := tarFiles([]tarEntry{
		{name: "bin/", dir: true},
		{name: strings.TrimPrefix(bin, "/"), data: s.Binary, mode: 0o755},
		{name: "etc/", dir: true},
		{name: "etc/group", data: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", NonRootUID))},
		{name: "etc/nsswitch.conf", data: []byte("hosts: files dns\n")},
		{name: "etc/passwd", data: []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", NonRootUID, NonRootUID))},
		{name: "home/", dir: true},
		{name: "home/nonroot/", dir: true, uid: NonRootUID},
		{name: "root/", dir: true, mode: 0o700},
		{name: "tmp/", dir: true, mode: 0o1777},
		{name: "usr/", dir: true},
		{name: "usr/share/", dir: true},
		{name: "usr/share/doc/", dir: true},
		{name: "usr/share/doc/bpfleet/", dir: true},
		{name: "usr/share/doc/bpfleet/LICENSE", data: s.License},
	})
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: epoch}, CreatedBy: "make images", Comment: s.Exporter + "_exporter " + s.Version,
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = "amd64"
	cf.OS = "linux"
	cf.Created = v1.Time{Time: epoch}
	labels := map[string]string{
		"org.opencontainers.image.title":    s.Exporter + "_exporter",
		"org.opencontainers.image.version":  s.Version,
		"org.opencontainers.image.licenses": "Apache-2.0 AND (GPL-2.0-only OR BSD-2-Clause)",
		"org.opencontainers.image.source":   "https://github.com/bpfleet/bpfleet",
	}
	if s.Revision != "" {
		labels["org.opencontainers.image.revision"] = s.Revision
	}
	cf.Config = v1.Config{
		Entrypoint:   []string{bin},
		User:         facts.user,
		WorkingDir:   "/",
		Env:          []string{"PATH=/bin"},
		ExposedPorts: map[string]struct{}{fmt.Sprintf("%d/tcp", facts.port): {}},
		Labels:       labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	ref := s.Name()
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{
		Add: img,
		Descriptor: v1.Descriptor{
			Platform: &v1.Platform{Architecture: "amd64", OS: "linux"},
			Annotations: map[string]string{
				"io.containerd.image.name":          ref,
				"org.opencontainers.image.ref.name": s.Version,
			},
		},
	})
	return layoutArchive(idx, img, layer)
}

// imageFacts: the user and port of each exporter's image.
var imageFacts = map[string]struct {
	user string
	port int
}{
	"kernel":  {"0:0", 10061},
	"dns":     {"0:0", 10062},
	"cni":     {"0:0", 10063},
	"cri":     {"0:0", 10064},
	"systemd": {"0:0", 10065},
	"etcd":    {fmt.Sprintf("%d:%d", NonRootUID, NonRootUID), 10066},
	"kubelet": {fmt.Sprintf("%d:%d", NonRootUID, NonRootUID), 10067},
	"kubeapi": {fmt.Sprintf("%d:%d", NonRootUID, NonRootUID), 10068},
}

// layoutArchive writes the OCI image layout of idx (one image, one layer)
// as a tar archive.
func layoutArchive(idx v1.ImageIndex, img v1.Image, layer v1.Layer) ([]byte, error) {
	index, err := idx.RawManifest()
	if err != nil {
		return nil, err
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return nil, err
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	compressed, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	blobs := map[string][]byte{}
	for _, b := range []struct {
		data []byte
		hash func() (v1.Hash, error)
	}{{manifest, img.Digest}, {config, img.ConfigName}, {compressed, layer.Digest}} {
		h, err := b.hash()
		if err != nil {
			return nil, err
		}
		got, _, err := v1.SHA256(bytes.NewReader(b.data))
		if err != nil {
			return nil, err
		}
		if got != h {
			return nil, fmt.Errorf("blob digest %s, want %s", got, h)
		}
		blobs[path.Join("blobs", h.Algorithm, h.Hex)] = b.data
	}
	entries := []tarEntry{
		{name: "blobs/", dir: true},
		{name: "blobs/sha256/", dir: true},
		{name: "index.json", data: index},
		{name: "oci-layout", data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
	}
	names := make([]string, 0, len(blobs))
	for n := range blobs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		entries = append(entries, tarEntry{name: n, data: blobs[n]})
	}
	return tarFiles(entries)
}

type tarEntry struct {
	name string
	data []byte
	mode int64
	dir  bool
	uid  int
}

// tarFiles writes entries in order, owned by root unless uid is set, with
// every timestamp the epoch.
func tarFiles(entries []tarEntry) ([]byte, error) {
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Uid: e.uid, Gid: e.uid, ModTime: epoch, Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag = tar.TypeDir
			h.Mode = 0o755
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if e.mode != 0 {
			h.Mode = e.mode
		}
		if err := w.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := w.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// BuildBinary builds exporter <name>_exporter from the repository at root
// as a static linux/amd64 binary (no cgo: the journal collector of
// systemd_exporter, which needs it, is left out and reports unsupported),
// with -trimpath and no build date or VCS stamp, so the same sources give
// the same bytes, and returns it.
func BuildBinary(root, name, version, revision string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "bpfleet-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, name+"_exporter")
	const pkg = "github.com/prometheus/common/version"
	ldflags := fmt.Sprintf("-s -w -buildid= -X %s.Version=%s -X %s.Revision=%s -X %s.Branch=release -X %s.BuildUser=bpfleet",
		pkg, version, pkg, revision, pkg, pkg)
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, "./"+name+"_exporter")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s_exporter: %v\n%s", name, err, b)
	}
	return os.ReadFile(out)
}
