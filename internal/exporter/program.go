package exporter

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/version"

	"github.com/bpfleet/bpfleet/internal/retry"
)

// Program describes one exporter binary.
type Program struct {
	Name        string // "kernel_exporter"
	Namespace   string // "kernel"
	Description string // one line for --help and the landing page
	DefaultPort int    // 10061
	Collectors  []Spec
	// Components are the exporter-wide parts the collectors share, in the
	// order they are constructed (a component may use those before it) and
	// the reverse of the order they are closed in.
	Components []ComponentSpec
	// Retry tunes the backoff between attempts to construct a collector or
	// component, or to rerun a Runner; nil means retry's defaults (1s
	// initial wait, 60s cap, forever).
	Retry []retry.Option
}

// Main runs the exporter described by p with the command-line arguments args
// (without the program name) until SIGINT or SIGTERM, and returns the process
// exit code: 0 after a clean shutdown or --help/--version, 2 for a bad flag, 1
// when the exporter cannot start or serve.
func Main(p Program, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return MainContext(ctx, p, args, stdout, stderr)
}

// MainContext is Main, stopped by the end of ctx instead of a signal: it then
// shuts down gracefully and returns 0. Tests run exporters in-process with it.
func MainContext(ctx context.Context, p Program, args []string, stdout, stderr io.Writer) int {
	cfg, code, exit := parseFlags(p, args, stdout, stderr)
	if exit {
		return code
	}
	cfg.log.Writer = stderr
	logger := promslog.New(&cfg.log)
	logger.Info("Starting "+p.Name, "version", version.Info())
	logger.Info("Build context", "build_context", version.BuildContext())
	e, err := start(p, cfg, logger)
	if err != nil {
		logger.Error("Cannot start "+p.Name, "err", err)
		return 1
	}
	return e.serve(ctx)
}
