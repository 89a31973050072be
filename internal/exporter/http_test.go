package exporter_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetricsMethods(t *testing.T) {
	var closes atomic.Int32
	r := start(t, program(gauge(&closes)))
	r.waitReady(t)
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, err := http.NewRequest(method, r.url+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if code, body := do(t, req); code != http.StatusMethodNotAllowed || strings.Contains(body, "test_static_value") {
			t.Errorf("%s /metrics = %d, want 405 without metrics", method, code)
		}
	}
	req, _ := http.NewRequest(http.MethodHead, r.url+"/metrics", nil)
	if code, _ := do(t, req); code != http.StatusOK {
		t.Errorf("HEAD /metrics = %d, want 200", code)
	}
}

// Connections beyond --web.max-connections are closed at once, and idle
// ones after --web.idle-timeout; scrapes work again when they are gone.
func TestConnectionLimits(t *testing.T) {
	var closes atomic.Int32
	r := start(t, program(gauge(&closes)), "--web.max-connections=3", "--web.idle-timeout=300ms")
	r.waitReady(t)
	// The test client's own keep-alive connection must not count.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
	addr := strings.TrimPrefix(r.url, "http://")
	var idle []net.Conn
	for range 3 {
		c := dial(t, addr)
		idle = append(idle, c)
		get(t, c) // a served request, then idle keep-alive
	}
	over := dial(t, addr)
	if _, err := fmt.Fprint(over, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err == nil {
		over.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := bufio.NewReader(over).ReadString('\n'); err == nil {
			t.Error("a connection beyond --web.max-connections was served")
		}
	}
	over.Close()
	for _, c := range idle {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("an idle connection was not closed after --web.idle-timeout")
		}
		c.Close()
	}
	eventually(t, "scrapes served once the idle connections are closed", func() bool {
		req, _ := http.NewRequest(http.MethodGet, r.url+"/metrics", nil)
		client := http.Client{Timeout: time.Second}
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends one /healthz request on c and reads its reply.
func get(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// Clients that never read their reply hold no --web.max-requests slot:
// real scrapes keep being served while they stay.
func TestSlowReadersDoNotStarveScrapes(t *testing.T) {
	big := prometheus.NewDesc("test_big_info", "Many series.", []string{"i"}, nil)
	many := simple("many", func(_ context.Context, ch chan<- prometheus.Metric) error {
		// ~8 MB of exposition: more than the socket buffers of a client
		// that does not read hold (4 MB send, 4 KB receive).
		pad := strings.Repeat("x", 400)
		for i := range 20000 {
			ch <- prometheus.MustNewConstMetric(big, prometheus.GaugeValue, 1, fmt.Sprint(pad, i))
		}
		return nil
	})
	r := start(t, program(many), "--web.max-requests=2")
	r.waitReady(t)
	addr := strings.TrimPrefix(r.url, "http://")
	slow := make([]net.Conn, 4)
	for i := range slow {
		slow[i] = dialSmallWindow(t, addr)
		// Asks and never reads: the reply stalls once the socket buffers fill.
		if _, err := fmt.Fprint(slow[i], "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	// The replies are being written once their first byte arrives (the
	// gathering is over); reading one byte of megabytes leaves each stalled.
	for i, c := range slow {
		c.SetReadDeadline(time.Now().Add(time.Minute))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatalf("slow client %d: no reply: %v", i, err)
		}
	}
	for i := range 3 {
		if code, _ := r.get(t, "/metrics"); code != http.StatusOK {
			t.Errorf("scrape %d while 4 clients do not read = %d, want 200", i, code)
		}
	}
}

// dialSmallWindow connects with a 4 KB receive buffer, as a client that
// reads nothing would hold the server's reply up.
func dialSmallWindow(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
