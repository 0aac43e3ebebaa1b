// Package sqlstore keeps Valet's data in SQL: SQLite (modernc.org/sqlite, pure
// Go, so the server stays one static binary) for a single node, PostgreSQL
// (pgx) for several nodes sharing one database. It owns the schema, its
// embedded migrations and the SQL behind every valet.Store method.
//
// Queries are written once with "?" placeholders and rebound to "$n" for
// PostgreSQL; the type differences between the engines live only in the
// per-dialect migration files. Times are stored as integer microseconds
// since the Unix epoch (NULL for the zero time) and read back in UTC.
//
// On SQLite, single statements are prepared once per pool and reused (see
// stmtCache), and concurrent access.Create calls share one write transaction
// (see accessBatcher), since every writer queues for the one write
// connection anyway.
//
// The package passes the storage contract in package storetest on both
// engines; that suite, not this comment, is the specification.
package sqlstore
