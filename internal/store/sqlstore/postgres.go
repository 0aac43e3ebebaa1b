package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

var passwordParam = regexp.MustCompile(`password=([^&\s]+)`)

// postgresConns bounds one node's connections; PostgreSQL's default
// max_connections (100) leaves room for a few nodes and an admin.
const postgresConns = 25

// postgresConnectTimeout applies when Open's context has no deadline, so a
// firewalled host fails the start instead of hanging it.
const postgresConnectTimeout = 15 * time.Second

func openPostgres(ctx context.Context, rawURL string) (*DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, errors.New(redact(fmt.Sprintf(
			"invalid PostgreSQL URL: %v; use postgres://user@host:5432/db?sslmode=disable (--db / VALET_DB)", err),
			rawURL, ""))
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(postgresConns)
	db.SetMaxIdleConns(postgresConns)
	db.SetConnMaxIdleTime(5 * time.Minute)

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, postgresConnectTimeout)
		defer cancel()
	}
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		_ = db.Close()
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			// The server answered and said no: a wrong password, user or database name.
			return nil, errors.New(redact(fmt.Sprintf(
				"PostgreSQL at %s refused the connection: %v; check the user, password and database name in --db / VALET_DB",
				addr, err), rawURL, cfg.Password))
		}
		return nil, errors.New(redact(fmt.Sprintf(
			"cannot reach PostgreSQL at %s: %v; is it running? check --db / VALET_DB",
			addr, err), rawURL, cfg.Password))
	}
	// One pool, so one cache; see stmtCache for why it prepares nothing.
	stmts := newStmtCache(db, false)
	return &DB{dialect: dialectPostgres, r: db, w: db, rs: stmts, ws: stmts, forUpdate: " FOR UPDATE"}, nil
}

// redact removes every password the URL could carry (user info, a
// "password" parameter) and the one pgx resolved, which may come from
// PGPASSWORD or a .pgpass file, from an error message. The messages built
// above hold none; this guards against a driver message that echoes one.
func redact(msg, rawURL, resolved string) string {
	var secrets []string
	if resolved != "" {
		secrets = append(secrets, resolved)
	}
	if u, err := url.Parse(rawURL); err == nil {
		if p, ok := u.User.Password(); ok && p != "" {
			secrets = append(secrets, p, url.QueryEscape(p), url.PathEscape(p))
		}
		for _, p := range u.Query()["password"] {
			if p != "" {
				secrets = append(secrets, p, url.QueryEscape(p))
			}
		}
	} else {
		// Unparseable: take "user:password@host" and "password=..." by hand.
		if _, rest, ok := strings.Cut(rawURL, "://"); ok {
			if i := strings.LastIndex(rest, "@"); i >= 0 {
				if _, p, ok := strings.Cut(rest[:i], ":"); ok {
					secrets = append(secrets, p)
				}
			}
		}
		for _, m := range passwordParam.FindAllStringSubmatch(rawURL, -1) {
			secrets = append(secrets, m[1])
		}
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	return msg
}
