//go:build !journal || !cgo

package collector

import "context"

// checkJournal: this build has no journal reader.
func checkJournal(dir string) error { return errJournalNotBuilt }

// followJournal: this build has no journal reader.
func followJournal(ctx context.Context, dir string, started func(), count func(unit string, prio int)) error {
	return errJournalNotBuilt
}
