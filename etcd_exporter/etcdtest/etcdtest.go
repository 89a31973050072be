// Package etcdtest runs a real etcd v3.7 server as a separate process for
// etcd_exporter's tests: on loopback, on free ports, with a temporary data
// directory, optionally with TLS and client-certificate authentication,
// and a TCP proxy that a test can cut to take the exporter off etcd while
// the test goes on writing.
//
// The server binary is built once by scripts/test-deps.d/etcd.sh into
// $BPFLEET_CACHE/etcd-v3.7.3/etcd (BPFLEET_CACHE defaults to
// /var/cache/bpfleet).
package etcdtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/bpfleet/bpfleet/etcd_exporter/etcdclient"

	"github.com/bpfleet/bpfleet/internal/testenv"
)

// Version is the etcd release the tests run.
const Version = "v3.7.3"

// Binary returns the cached etcd server binary. It skips the test when not
// root (the cache is root's) and fails it when the binary is missing.
func Binary(tb testing.TB) string {
	tb.Helper()
	cache := os.Getenv("BPFLEET_CACHE")
	if cache == "" {
		cache = "/var/cache/bpfleet"
	}
	path := filepath.Join(cache, "etcd-"+Version, "etcd")
	if _, err := os.Stat(path); err != nil {
		if os.Geteuid() != 0 {
			tb.Skipf("needs the etcd %s binary at %s, built as root by scripts/test-deps.d/etcd.sh (`make test-deps`): %v", Version, path, err)
		}
		tb.Fatalf("etcd %s not built: run scripts/test-deps.d/etcd.sh (`make test-deps`): %v", Version, err)
	}
	return path
}

// Etcd is one running etcd member.
type Etcd struct {
	// Endpoint is the client URL (https:// with TLS).
	Endpoint string
	// TLS holds the PEM files of the CA, the server and a client, when the
	// server was started with TLS.
	TLS *TLSFiles

	binary  string
	args    []string
	cgroup  string
	dataDir string
	client  string // host:port
	peer    string // host:port
	name    string // member name
	cluster string // --initial-cluster
	cmd     *exec.Cmd
	log     *syncBuffer
	done    chan struct{}
}

// Options configures Start.
type Options struct {
	// TLS: serve clients over TLS and require client certificates signed
	// by the test CA.
	TLS bool
	// Args are more etcd flags (--max-txn-ops=1000).
	Args []string
	// CgroupDir, when set, is a cgroup v2 directory the etcd process is
	// started in (CLONE_INTO_CGROUP), at every start.
	CgroupDir string
}

// Start starts an etcd member and waits until it answers; the test's
// cleanup kills it and removes its data.
func Start(tb testing.TB, opts Options) *Etcd {
	tb.Helper()
	e := &Etcd{
		binary:  Binary(tb),
		args:    opts.Args,
		cgroup:  opts.CgroupDir,
		dataDir: tb.TempDir(),
		client:  freeAddr(tb),
		peer:    freeAddr(tb),
	}
	scheme := "http"
	if opts.TLS {
		e.TLS = WriteTLS(tb, tb.TempDir())
		scheme = "https"
	}
	e.Endpoint = scheme + "://" + e.client
	e.name = "test"
	e.cluster = "test=http://" + e.peer
	tb.Cleanup(func() { e.Kill(tb) })
	e.Restart(tb)
	return e
}

// StartCluster starts a cluster of n members, each a separate etcd
// process on loopback with its own free ports and data, and waits until
// every member answers a linearizable read (the cluster has a leader).
func StartCluster(tb testing.TB, n int, opts Options) []*Etcd {
	tb.Helper()
	if opts.TLS {
		tb.Fatal("etcdtest: StartCluster does not do TLS")
	}
	bin := Binary(tb)
	members := make([]*Etcd, n)
	var cluster []string
	for i := range members {
		e := &Etcd{binary: bin, args: opts.Args, dataDir: tb.TempDir(), client: freeAddr(tb), peer: freeAddr(tb), name: fmt.Sprintf("m%d", i)}
		e.Endpoint = "http://" + e.client
		cluster = append(cluster, e.name+"=http://"+e.peer)
		members[i] = e
	}
	for _, e := range members {
		e.cluster = strings.Join(cluster, ",")
		tb.Cleanup(func() { e.Kill(tb) })
		e.start(tb)
	}
	for _, e := range members {
		e.wait(tb)
	}
	return members
}

// freeAddr returns a loopback address no other server of this process was
// given (testenv.FreePort).
func freeAddr(tb testing.TB) string {
	tb.Helper()
	return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(tb))
}

// Restart starts the member again (after Kill) on the same ports and data
// and waits until it answers a linearizable read: a cluster member only
// answers once a quorum runs (see RestartAll).
func (e *Etcd) Restart(tb testing.TB) {
	tb.Helper()
	e.start(tb)
	e.wait(tb)
}

// RestartAll restarts members (after Kill) together, then waits until
// each answers.
func RestartAll(tb testing.TB, members ...*Etcd) {
	tb.Helper()
	for _, e := range members {
		e.start(tb)
	}
	for _, e := range members {
		e.wait(tb)
	}
}

// start starts the member's process.
func (e *Etcd) start(tb testing.TB) {
	tb.Helper()
	args := []string{
		"--name=" + e.name,
		"--data-dir=" + e.dataDir,
		"--listen-client-urls=" + e.Endpoint,
		"--advertise-client-urls=" + e.Endpoint,
		"--listen-peer-urls=http://" + e.peer,
		"--initial-advertise-peer-urls=http://" + e.peer,
		"--initial-cluster=" + e.cluster,
		"--initial-cluster-token=etcdtest",
		"--log-level=error",
	}
	if e.TLS != nil {
		args = append(args, "--cert-file="+e.TLS.ServerCert, "--key-file="+e.TLS.ServerKey,
			"--trusted-ca-file="+e.TLS.CA, "--client-cert-auth")
	}
	args = append(args, e.args...)
	e.log = &syncBuffer{}
	e.cmd = exec.Command(e.binary, args...)
	e.cmd.Stdout, e.cmd.Stderr = e.log, e.log
	if e.cgroup != "" {
		fd, err := unix.Open(e.cgroup, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			tb.Fatalf("opening cgroup %s: %v", e.cgroup, err)
		}
		defer unix.Close(fd)
		e.cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	}
	if err := e.cmd.Start(); err != nil {
		tb.Fatalf("start etcd: %v", err)
	}
	e.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(e.cmd, e.done)
}

// wait waits until the member answers a linearizable read.
func (e *Etcd) wait(tb testing.TB) {
	tb.Helper()
	cli := e.Client(tb)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Get(ctx, "health-probe")
		cancel()
		if err == nil {
			return
		}
		select {
		case <-e.done:
			tb.Fatalf("etcd exited: %v\n%s", e.cmd.ProcessState, e.log)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("etcd not ready after 30s: %v\n%s", err, e.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Pid returns the etcd process's id.
func (e *Etcd) Pid() int { return e.cmd.Process.Pid }

// Kill kills the member (SIGKILL) and waits for it to exit.
func (e *Etcd) Kill(tb testing.TB) {
	tb.Helper()
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	select {
	case <-e.done:
		return
	default:
	}
	e.cmd.Process.Kill()
	<-e.done
}

// Config returns the client configuration of the member (with the test
// client certificate under TLS).
func (e *Etcd) Config() etcdclient.Config {
	c := etcdclient.Config{
		Endpoints:      []string{e.Endpoint},
		DialTimeout:    5 * time.Second,
		RequestTimeout: 5 * time.Second,
	}
	if e.TLS != nil {
		c.CACert, c.Cert, c.Key = e.TLS.CA, e.TLS.ClientCert, e.TLS.ClientKey
	}
	return c
}

// Client returns a client of the member, closed by the test's cleanup.
func (e *Etcd) Client(tb testing.TB) *clientv3.Client {
	tb.Helper()
	c := e.Config()
	tlsCfg, err := c.TLS()
	if err != nil {
		tb.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints, TLS: tlsCfg, DialTimeout: c.DialTimeout, Logger: zap.NewNop()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cli.Close() })
	return cli
}

// Log returns what the member printed.
func (e *Etcd) Log() string { return e.log.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ClientAddr returns the member's client host:port (the proxy's target).
func (e *Etcd) ClientAddr() string { return e.client }
