// Package storetest is the executable contract of valet.Store: Run is a
// conformance suite that every storage backend passes, in the manner of
// testing/slogtest and testing/fstest. The comments on valet.Store say what
// each method promises; the subtests here check it, including the security
// invariants under concurrency (Codes.Consume, Refresh.Rotate,
// Keys.CreateFirst, Keys.Rotate, Replays.Use, and Update's read-modify-write).
//
// A backend's own test calls Run with a function that returns an empty,
// migrated store and closes it through t.Cleanup.
package storetest
