// Package server assembles Valet: New builds every HTTP handler from its
// dependencies with struct literals, on one screen, and wraps them in the
// cross-cutting middleware (request logs without secrets, panic recovery,
// default headers). It reads no configuration; cmd/valet does.
package server
