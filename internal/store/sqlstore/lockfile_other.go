//go:build !unix

package sqlstore

import "os"

// lockFile reports that the journal cannot be locked here: without it,
// access tokens are written straight into the table.
func lockFile(*os.File) (bool, error) { return false, nil }

func unlockFile(*os.File) error { return nil }
