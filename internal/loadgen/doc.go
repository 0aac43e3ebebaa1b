// Package loadgen is a closed-loop HTTP load generator for this machine's
// loopback interface; `valet bench` is built on it.
//
// Run starts a fixed number of workers, each of which sends a request, waits
// for the whole answer and sends the next (a closed loop: the offered load
// follows the server's speed, so the throughput measured is the server's).
// Each worker owns one kept-alive connection and speaks HTTP/1.1 on it
// itself, with the standard library's serialisation but without
// http.Transport, so that the generator takes as little CPU as it can from
// the server it measures on the same machine. Requests come from a function,
// so bodies can vary from one request to the next. After an optional
// warm-up, Run counts the requests that complete in a measured window of
// fixed length, by status, and their latencies in a log-linear histogram of
// bounded size; on Linux it also reports how much of the machine's CPU other
// processes took meanwhile.
//
// Compare runs a baseline and scenarios in rounds and reports each scenario
// as a ratio to the baseline of its own round; CeilingHandler is the bare
// handler that serves as that baseline. ReadMemory and MemorySampler read a
// process's resident memory from /proc.
//
// Run refuses any host that is not a loopback IP address or "localhost",
// both when it checks a request and when it dials: it is a benchmark for the
// machine it runs on, never a way to load someone else's server.
package loadgen
