//go:build journal && cgo

package collector

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/sdjournal"
)

// openJournal opens the journal files of dir (and of its machine-id
// subdirectories), or the local system's journal when dir is empty, with
// go-systemd's sdjournal, which dlopens libsystemd.so.0. A libsystemd that
// cannot be loaded makes the collector unsupported.
func openJournal(dir string) (*sdjournal.Journal, error) {
	var j *sdjournal.Journal
	var err error
	if dir == "" {
		j, err = sdjournal.NewJournal()
	} else {
		j, err = sdjournal.NewJournalFromDir(dir)
	}
	if err != nil {
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			return nil, fmt.Errorf("loading libsystemd.so.0 for the journal: %v: %w", err, errors.ErrUnsupported)
		}
		return nil, err
	}
	return j, nil
}

// checkJournal opens the journal once, so that the constructor fails
// (and is retried, or reports unsupported) while it cannot be read.
func checkJournal(dir string) error {
	j, err := openJournal(dir)
	if err != nil {
		return err
	}
	return j.Close()
}

// followWait is how long one wait for new entries lasts, between checks of
// ctx.
const followWait = time.Second

// followJournal reads the entries appended to the journal after it is
// opened, calling count with the _SYSTEMD_UNIT and PRIORITY of each that
// has both, until ctx ends (nil) or reading fails.
func followJournal(ctx context.Context, dir string, started func(), count func(unit string, prio int)) error {
	j, err := openJournal(dir)
	if err != nil {
		return err
	}
	defer j.Close()
	// The tail, then back onto the last entry: the next Next is the first
	// entry written from now on.
	if err := j.SeekTail(); err != nil {
		return fmt.Errorf("seeking the journal's end: %w", err)
	}
	if _, err := j.Previous(); err != nil {
		return fmt.Errorf("seeking the journal's last entry: %w", err)
	}
	started()
	for {
		n, err := j.Next()
		if err != nil {
			return fmt.Errorf("reading the journal: %w", err)
		}
		if n == 0 {
			if ctx.Err() != nil {
				return nil
			}
			if r := j.Wait(followWait); r < 0 {
				return fmt.Errorf("waiting for the journal: %w", syscall.Errno(-r))
			}
			continue
		}
		unit, err := j.GetDataValue("_SYSTEMD_UNIT")
		if err != nil || unit == "" {
			continue
		}
		p, err := j.GetDataValue("PRIORITY")
		if err != nil {
			continue
		}
		if prio, ok := parsePriority(p); ok {
			count(unit, prio)
		}
	}
}
