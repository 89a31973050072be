package collector

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Fallback prefixes: the value of the prefix label for keys that have no
// prefix of their own. Neither is a key prefix, so they cannot collide with
// one (every real prefix starts and ends with '/').
const (
	// OtherPrefix holds the keys outside the layout (not under /registry/
	// in the Kubernetes layout, or without a '/'-separated directory)
	// and the prefixes that the allowlist does not admit.
	OtherPrefix = "other"
	// RootPrefix holds keys directly under /registry/ (no resource
	// directory), such as the apiserver's /registry/health.
	RootPrefix = "/registry/"
)

// Prefixer maps a key to the prefix that labels its series. It keeps no
// part of a key but its directories: the last segment (the object's name)
// is never in a prefix, so a prefix never equals a key.
type Prefixer struct {
	// Depth is how many '/'-separated directories make a prefix; 0 is the
	// Kubernetes layout: /registry/<resource>/ and, for a resource whose
	// group has a dot, /registry/<group>/<resource>/.
	Depth int
	// Allow admits prefixes; nil admits all. The others go to OtherPrefix.
	Allow *regexp.Regexp
}

// Prefix returns key's prefix label value (valid UTF-8; other keys go to
// OtherPrefix).
func (p Prefixer) Prefix(key []byte) string {
	var prefix string
	if p.Depth == 0 {
		prefix = kubernetesPrefix(key)
	} else {
		prefix = depthPrefix(key, p.Depth)
	}
	if !utf8.ValidString(prefix) || len(prefix) == len(key) {
		// Label values must be UTF-8 (etcd keys are bytes), and a key
		// that ends in '/' is not exported as its own prefix.
		return OtherPrefix
	}
	if prefix != OtherPrefix && p.Allow != nil && !p.Allow.MatchString(prefix) {
		return OtherPrefix
	}
	return prefix
}

const registry = "/registry/"

// kubernetesPrefix returns the resource directory of a key of the
// apiserver's etcd3 storage layout.
func kubernetesPrefix(key []byte) string {
	k := string(key)
	rest, ok := strings.CutPrefix(k, registry)
	if !ok {
		return OtherPrefix
	}
	first, afterFirst, ok := strings.Cut(rest, "/")
	if !ok || first == "" {
		return RootPrefix
	}
	if strings.Contains(first, ".") {
		// /registry/<group>/<resource>/<...>: a group has a dot.
		if second, _, ok := strings.Cut(afterFirst, "/"); ok && second != "" {
			return registry + first + "/" + second + "/"
		}
	}
	return registry + first + "/"
}

// depthPrefix returns the first depth directories of key ("/a/b/" for
// depth 2 and key /a/b/c/d), fewer when the key is shallower, OtherPrefix
// when it has no directory.
func depthPrefix(key []byte, depth int) string {
	k := string(key)
	end := 0
	seen := 0
	for i := 0; i < len(k); i++ {
		if k[i] != '/' {
			continue
		}
		if i == 0 {
			end = 1
			continue
		}
		if i == end { // an empty segment ("//"): part of the directory
			end = i + 1
			continue
		}
		seen++
		end = i + 1
		if seen == depth {
			break
		}
	}
	if seen == 0 {
		return OtherPrefix
	}
	return k[:end]
}
