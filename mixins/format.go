package mixins

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/google/go-jsonnet/formatter"
)

// FormatSources finds the Jsonnet sources (*.libsonnet, *.jsonnet) under
// root that jsonnetfmt's default style would change and returns their
// paths, sorted; with write, it rewrites them formatted.
func FormatSources(root string, write bool) ([]string, error) {
	var changed []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(path) != ".libsonnet" && filepath.Ext(path) != ".jsonnet") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading Jsonnet source: %w", err)
		}
		out, err := formatter.Format(path, string(src), formatter.DefaultOptions())
		if err != nil {
			return fmt.Errorf("formatting %s: %w", path, err)
		}
		if out == string(src) {
			return nil
		}
		changed = append(changed, path)
		if write {
			if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
				return fmt.Errorf("writing formatted source: %w", err)
			}
		}
		return nil
	})
	slices.Sort(changed)
	return changed, err
}
