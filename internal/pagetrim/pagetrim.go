// Package pagetrim lets go of the resident pages of a process's own
// executable that only its start-up used.
//
// An exporter's start-up (package initialisation, flag parsing, loading BPF
// objects and the kernel's BTF, first contact with its components) runs
// code and reads tables that its scrapes never touch again. Those pages of
// the executable stay mapped, and counted in the process's RSS (RssFile),
// until the kernel reclaims them under memory pressure. Executable drops
// this process's page-table entries for its executable's read-only mappings
// (madvise MADV_DONTNEED): the pages stay in the page cache, and the code
// and tables the exporter still uses are mapped again on their next use
// (a minor fault each, a few milliseconds once for a scrape's working set).
//
// Only mappings of the executable file that are not writable and hold no
// private copy of a page (smaps "Anonymous: 0 kB", for instance relocated
// RELRO data in a PIE build) are touched: dropping them gives back exactly
// the file's contents. Everything else (data, heap, stacks, libraries) is
// left alone; a layout that does not match is skipped, not an error.
package pagetrim

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Result is what Executable did.
type Result struct {
	Mappings int    // mappings of the executable dropped
	Skipped  int    // mappings of the executable left alone
	Resident uint64 // bytes of them that were resident before (smaps Rss)
}

// Executable drops this process's page-table entries for the read-only,
// unmodified mappings of its own executable (see the package comment).
func Executable() (Result, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return Result{}, fmt.Errorf("finding the executable: %w", err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return Result{}, fmt.Errorf("reading the process's mappings: %w", err)
	}
	maps, err := parseSmaps(bytes.NewReader(smaps))
	if err != nil {
		return Result{}, err
	}
	var res Result
	for _, m := range maps {
		if m.path != exe {
			continue
		}
		if !m.trimmable() {
			res.Skipped++
			continue
		}
		if err := madviseDontNeed(m.start, m.end-m.start); err != nil {
			return res, fmt.Errorf("dropping the pages of %s at %#x-%#x: %w", exe, m.start, m.end, err)
		}
		res.Mappings++
		res.Resident += m.rss
	}
	return res, nil
}

func madviseDontNeed(addr, length uintptr) error {
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, addr, length, unix.MADV_DONTNEED); e != 0 {
		return e
	}
	return nil
}

// mapping is one entry of /proc/<pid>/smaps.
type mapping struct {
	start, end uintptr
	perms      string // "r-xp"
	path       string // "" for anonymous mappings
	// From its fields, in bytes; anonymous is the pages of a file
	// mapping that the process changed (private copies); locked the
	// mlocked ones.
	rss, anonymous, locked uint64
	fields                 int // Rss, Anonymous and Locked: how many were read
}

// trimmable reports whether dropping m's pages gives back exactly what it
// holds: readable, private, not writable, no private copy of a page, none
// locked, and all three fields read (a format that differs is left alone).
func (m mapping) trimmable() bool {
	return len(m.perms) == 4 && m.perms[0] == 'r' && m.perms[1] == '-' && m.perms[3] == 'p' &&
		m.fields == 3 && m.anonymous == 0 && m.locked == 0 && m.end > m.start
}

// parseSmaps reads the mappings of an smaps file. A header line is
// "start-end perms offset dev inode [path]"; the lines after it are
// "Name: value [kB]" fields until the next header.
func parseSmaps(r io.Reader) ([]mapping, error) {
	var out []mapping
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m, ok := parseHeader(line); ok {
			out = append(out, m)
			continue
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("smaps: field before any mapping: %q", line)
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		m := &out[len(out)-1]
		var dst *uint64
		switch name {
		case "Rss":
			dst = &m.rss
		case "Anonymous":
			dst = &m.anonymous
		case "Locked":
			dst = &m.locked
		default:
			continue
		}
		kb, ok := strings.CutSuffix(strings.TrimSpace(value), " kB")
		n, err := strconv.ParseUint(strings.TrimSpace(kb), 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("smaps: field %q", line)
		}
		*dst = n << 10
		m.fields++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading smaps: %w", err)
	}
	return out, nil
}

// parseHeader parses a mapping's header line; ok is false for a field line.
func parseHeader(line string) (mapping, bool) {
	rng, rest, _ := strings.Cut(line, " ")
	lo, hi, ok := strings.Cut(rng, "-")
	if !ok {
		return mapping{}, false
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil {
		return mapping{}, false
	}
	// perms offset dev inode, then the path (which may hold spaces),
	// padded with spaces.
	f := strings.SplitN(rest, " ", 5)
	if len(f) < 4 {
		return mapping{}, false
	}
	m := mapping{start: uintptr(start), end: uintptr(end), perms: f[0]}
	if len(f) == 5 {
		m.path = strings.TrimLeft(f[4], " ")
	}
	return m, true
}
