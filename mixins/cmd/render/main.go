// Command render formats the Jsonnet sources under the mixins root in
// jsonnetfmt's default style and renders every bpfleet mixin (each
// directory under the root with a mixin.libsonnet) into its alerts.yaml,
// rules.yaml and dashboards/*.json.
//
//	go run ./cmd/render [-root DIR] [-check]
//
// With -check it writes nothing and exits 1 when a source is not formatted
// or a rendered file is stale.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/bpfleet/bpfleet/mixins"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("render", flag.ContinueOnError)
	fl.SetOutput(stderr)
	root := fl.String("root", ".", "the mixins directory")
	check := fl.Bool("check", false, "write nothing; fail when a source is not formatted or a rendered file is stale")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	status := 0
	unformatted, err := mixins.FormatSources(*root, !*check)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *check && len(unformatted) > 0 {
		for _, path := range unformatted {
			fmt.Fprintf(stdout, "not formatted: %s\n", path)
		}
		status = 1
	}
	dirs, err := mixins.Dirs(*root)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	for _, dir := range dirs {
		files, err := mixins.Render(dir, "")
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if !*check {
			err = files.Write(dir)
		} else {
			var stale []string
			stale, err = files.Stale(dir)
			for _, name := range stale {
				fmt.Fprintf(stdout, "stale: %s/%s\n", dir, name)
				status = 1
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	return status
}
