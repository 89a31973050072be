// Command manifests copies the rendered mixins into the Helm chart and
// renders the plain manifests in deploy/manifests from it (`make
// manifests`); with -check it changes nothing and fails when either is stale
// (`make check-manifests`).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/bpfleet/bpfleet/deploy"
)

func main() {
	check := flag.Bool("check", false, "change nothing; fail when the chart's mixin files or deploy/manifests are stale")
	flag.Parse()
	if err := run(*check); err != nil {
		fmt.Fprintln(os.Stderr, "manifests:", err)
		os.Exit(1)
	}
}

func run(check bool) error {
	if err := deploy.SyncMixins(deploy.Root(), check); err != nil {
		return err
	}
	files, err := deploy.Manifests(deploy.ChartDir())
	if err != nil {
		return err
	}
	return deploy.WriteManifests(deploy.ManifestsDir(), files, check)
}
