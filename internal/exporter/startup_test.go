package exporter_test

import (
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
)

var dropped = regexp.MustCompile(`msg="Dropped the executable's start-up pages".* when="collectors constructed" mappings=(\d+)`)

// Once every collector was constructed, the exporter drops its start-up
// pages (logged at debug level), and keeps serving.
func TestStartupPagesDropped(t *testing.T) {
	var closes atomic.Int32
	r := start(t, program(gauge(&closes)), "--log.level=debug")
	r.waitReady(t)
	eventually(t, "the start-up pages dropped", func() bool { return dropped.MatchString(r.stderr.String()) })
	logs := r.stderr.String()
	if n := len(dropped.FindAllString(logs, -1)); n != 1 {
		t.Errorf("start-up pages dropped %d times at start-up, want once:\n%s", n, logs)
	}
	if n, _ := strconv.Atoi(dropped.FindStringSubmatch(logs)[1]); n < 1 {
		t.Errorf("no mapping of the executable dropped:\n%s", logs)
	}
	for range 3 {
		if got, _ := value(r.scrape(t), "test_static_value"); got != 42 {
			t.Errorf("test_static_value = %v after the start-up pages were dropped, want 42", got)
		}
	}
}
