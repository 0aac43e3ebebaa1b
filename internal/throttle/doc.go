// Package throttle limits how often one key (an account, a client address)
// may fail at something, such as entering a password, within a time window.
// It keeps its counters in memory, per process: with N nodes behind a load
// balancer the effective limit is N times the configured one.
package throttle
