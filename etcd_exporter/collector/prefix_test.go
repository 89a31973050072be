package collector

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func TestPrefix(t *testing.T) {
	allow := regexp.MustCompile(`^(?:/registry/(pods|events)/)$`)
	for _, tc := range []struct {
		p    Prefixer
		key  string
		want string
	}{
		{Prefixer{}, "/registry/pods/ns1/web-0", "/registry/pods/"},
		{Prefixer{}, "/registry/minions/node-1", "/registry/minions/"},
		{Prefixer{}, "/registry/namespaces/default", "/registry/namespaces/"},
		{Prefixer{}, "/registry/apiextensions.k8s.io/customresourcedefinitions/a.b.c", "/registry/apiextensions.k8s.io/customresourcedefinitions/"},
		{Prefixer{}, "/registry/example.com/widgets/ns/w", "/registry/example.com/widgets/"},
		// A group directory with no resource directory under it.
		{Prefixer{}, "/registry/example.com/leaf", "/registry/example.com/"},
		{Prefixer{}, "/registry/health", RootPrefix},
		{Prefixer{}, "/registry//x", RootPrefix},
		{Prefixer{}, "/registry/", OtherPrefix},
		{Prefixer{}, "/registry/pods/", OtherPrefix},
		{Prefixer{Depth: 1}, "/a/", OtherPrefix},
		{Prefixer{}, "/registry", OtherPrefix},
		{Prefixer{}, "/config/app", OtherPrefix},
		{Prefixer{}, "plain", OtherPrefix},
		{Prefixer{}, "", OtherPrefix},
		{Prefixer{}, "/registry/\xff\xfe/x", OtherPrefix},
		{Prefixer{Allow: allow}, "/registry/pods/ns/p", "/registry/pods/"},
		{Prefixer{Allow: allow}, "/registry/secrets/ns/s", OtherPrefix},
		{Prefixer{Depth: 1}, "/a/b/c", "/a/"},
		{Prefixer{Depth: 2}, "/a/b/c", "/a/b/"},
		{Prefixer{Depth: 3}, "/a/b/c", "/a/b/"},
		{Prefixer{Depth: 2}, "a/b/c", "a/b/"},
		{Prefixer{Depth: 1}, "/a", OtherPrefix},
		{Prefixer{Depth: 1}, "plain", OtherPrefix},
		{Prefixer{Depth: 2}, "/a//b/c", "/a//b/"},
	} {
		if got := tc.p.Prefix([]byte(tc.key)); got != tc.want {
			t.Errorf("Prefixer{Depth: %d, Allow: %v}.Prefix(%q) = %q, want %q", tc.p.Depth, tc.p.Allow, tc.key, got, tc.want)
		}
	}
}

// FuzzPrefix: a prefix is valid UTF-8 and either a fallback or a proper
// prefix of the key ending in '/': never the key itself.
func FuzzPrefix(f *testing.F) {
	for _, s := range []string{"/registry/pods/ns/p", "/registry/a.b/c/d", "/registry/x", "//", "/a/b/c", "plain", "/registry/\xff/"} {
		f.Add(s, 0)
		f.Add(s, 2)
	}
	f.Fuzz(func(t *testing.T, key string, depth int) {
		depth = max(0, depth%8)
		got := Prefixer{Depth: depth}.Prefix([]byte(key))
		if !utf8.ValidString(got) {
			t.Fatalf("prefix %q of %q is not UTF-8", got, key)
		}
		if got == OtherPrefix {
			return
		}
		if got == key || !strings.HasPrefix(key, got) || !strings.HasSuffix(got, "/") {
			t.Fatalf("prefix %q of %q (depth %d) is not a proper directory prefix", got, key, depth)
		}
	})
}

func TestSizeBucket(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want int32
	}{{1, 0}, {2, 1}, {3, 2}, {4, 2}, {5, 3}, {100, 7}, {128, 7}, {129, 8}, {1 << 20, 20}, {1<<20 + 1, 21}} {
		if got := sizeBucket(tc.n); got != tc.want {
			t.Errorf("sizeBucket(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
	if got := sizeBucket(0); got != -1<<31 {
		t.Errorf("sizeBucket(0) = %d, want the zero bucket", got)
	}
}

func TestFileKind(t *testing.T) {
	for path, want := range map[string]string{
		"/var/lib/etcd/member/wal/0000000000000000-0000000000000000.wal":   "wal",
		"/var/lib/etcd/member/wal/0.tmp":                                   "wal",
		"/var/lib/etcd/member/snap/db":                                     "db",
		"/var/lib/etcd/member/snap/0000000000000002-0000000000002711.snap": "snap",
		"/var/lib/etcd/member/snap/db.tmp":                                 "snap",
		"/dev/null":                                                        "other",
		"socket:[12345]":                                                   "other",
		"":                                                                 "other",
	} {
		if got := fileKind(path); got != want {
			t.Errorf("fileKind(%q) = %q, want %q", path, got, want)
		}
	}
}

// TestClassify: the watch errors a single real member cannot produce
// (leader lost) are named from etcd's own error values.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{rpctypes.ErrNoLeader, ReasonLeaderLost},
		{rpctypes.ErrGRPCNoLeader, ReasonLeaderLost},
		{fmt.Errorf("watch: %w", rpctypes.ErrNoLeader), ReasonLeaderLost},
		{rpctypes.ErrCompacted, ReasonCompacted},
		{rpctypes.ErrGRPCCompacted, ReasonCompacted},
		{errors.New("rpc error: code = Unavailable"), ReasonError},
		{context.DeadlineExceeded, ReasonError},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
