package exportertest

import (
	"os/exec"
	"slices"
	"testing"
)

// standIn logs the line an exporter logs once it listens, then waits for
// SIGTERM and exits with code 3.
const standIn = `trap 'echo stopping; exit 3' TERM
echo 'time=2026-01-01T00:00:00Z level=INFO source=tls_config.go:395 msg="Listening on" address=127.0.0.1:1'
while :; do sleep 0.01; done`

func TestStartCmdReadsAddressAndTerminateReturnsExitCode(t *testing.T) {
	p := StartCmd(t, exec.Command("/bin/sh", "-c", standIn))
	if p.URL != "http://127.0.0.1:1" {
		t.Errorf("URL = %q, want http://127.0.0.1:1", p.URL)
	}
	if code := p.Terminate(t); code != 3 {
		t.Errorf("exit code after SIGTERM = %d, want 3", code)
	}
	if got := LogLines(p.Log(), "stopping"); !slices.Equal(got, []string{"stopping"}) {
		t.Errorf("log lines saying stopping = %q, want one", got)
	}
}

func TestLogLinesMatchesEveryPart(t *testing.T) {
	log := "level=INFO msg=a collector=tcp\n  level=ERROR msg=b collector=tcp  \nlevel=ERROR msg=c collector=oom\n"
	for _, tt := range []struct {
		parts []string
		want  []string
	}{
		{[]string{"collector=tcp"}, []string{"level=INFO msg=a collector=tcp", "level=ERROR msg=b collector=tcp"}},
		{[]string{"level=ERROR", "collector=tcp"}, []string{"level=ERROR msg=b collector=tcp"}},
		{[]string{"level=WARN"}, nil},
		{nil, []string{"level=INFO msg=a collector=tcp", "level=ERROR msg=b collector=tcp", "level=ERROR msg=c collector=oom"}},
	} {
		if got := LogLines(log, tt.parts...); !slices.Equal(got, tt.want) {
			t.Errorf("LogLines(%q) = %q, want %q", tt.parts, got, tt.want)
		}
	}
}
