// Command images builds one OCI image layout tarball per exporter (`make
// images`): a static binary on no base image, reproducible (the same
// sources give the same bytes), importable with
// `ctr -n k8s.io images import <file>` or pushable with any OCI tool
// (crane, skopeo, oras).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bpfleet/bpfleet/deploy"
)

func main() {
	root := deploy.Root()
	version, _ := os.ReadFile(filepath.Join(root, "VERSION"))
	out := flag.String("out", filepath.Join(root, "bin", "images"), "directory of the tarballs")
	ver := flag.String("version", strings.TrimSpace(string(version)), "image tag and version stamped into the binaries")
	rev := flag.String("revision", "unknown", "source revision stamped into the binaries and the images' labels")
	registry := flag.String("registry", "docker.io/bpfleet", "image name prefix: <registry>/<exporter>_exporter:<version>")
	only := flag.String("exporters", strings.Join(deploy.Exporters, ","), "comma-separated exporters to build")
	flag.Parse()
	if err := run(root, *out, *ver, *rev, *registry, strings.Split(*only, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(root, out, version, revision, registry string, names []string) error {
	license, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, name := range names {
		bin, err := deploy.BuildBinary(root, name, version, revision)
		if err != nil {
			return err
		}
		spec := deploy.ImageSpec{Exporter: name, Version: version, Revision: revision, Binary: bin, License: license, Registry: registry}
		archive, err := deploy.BuildImage(spec)
		if err != nil {
			return err
		}
		file := filepath.Join(out, name+"_exporter-"+version+".oci.tar")
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, archive, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, file); err != nil {
			return err
		}
		fmt.Printf("%s\t%s\t%d bytes\n", file, spec.Name(), len(archive))
	}
	return nil
}
