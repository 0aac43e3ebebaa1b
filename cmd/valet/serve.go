package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/keys"
	"github.com/valetauth/valet/internal/outbound"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/server"
	"github.com/valetauth/valet/internal/store/cache"
	"github.com/valetauth/valet/internal/store/sqlstore"
	"github.com/valetauth/valet/internal/web"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the authorization server",
		Long: `Run the authorization server. With no configuration it listens on :8080
(public) and 127.0.0.1:8081 (admin API), keeps its data in ./valet-data
(an SQLite database, a generated key-encryption secret and admin token),
and uses http://localhost:8080 as its issuer.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(cmd, os.Getenv)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, c, cmd.ErrOrStderr(), nil)
		},
	}
	addServeFlags(cmd)
	return cmd
}

func newMigrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations and exit (serve also does this at start)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(cmd, os.Getenv)
			if err != nil {
				return err
			}
			db, err := openDB(cmd.Context(), &c)
			if err != nil {
				return err
			}
			defer db.Close()
			fmt.Fprintln(cmd.OutOrStdout(), "migrations applied:", db.Dialect())
			return nil
		},
	}
	addServeFlags(cmd)
	return cmd
}

func newLogger(c *config, w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// accessLog writes the line per request to w in the configured format, or
// is nil (no access lines) when the level is above info.
func accessLog(c *config, w io.Writer) *server.AccessLog {
	if level, _ := parseLevel(c.LogLevel); level > slog.LevelInfo {
		return nil
	}
	return &server.AccessLog{W: w, JSON: c.LogFormat == "json"}
}

// openDB opens and migrates the configured database, creating the data
// directory for the default SQLite file.
func openDB(ctx context.Context, c *config) (*sqlstore.DB, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	url, err := c.dbURL()
	if err != nil {
		return nil, err
	}
	if c.DB == "" {
		if err := os.MkdirAll(c.Data, 0o700); err != nil {
			return nil, fmt.Errorf("create the data directory %s: %w (set --data or VALET_DATA to a writable directory)", c.Data, err)
		}
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	db, err := sqlstore.Open(octx, url)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(octx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate the database: %w", err)
	}
	return db, nil
}

// serve runs Valet until ctx ends, then finishes in-flight requests and
// returns nil. ready, when not nil, receives the two listeners' addresses.
func serve(ctx context.Context, c config, logOut io.Writer, ready func(public, admin net.Addr)) error {
	// One access-log line per request: under load the sink writes many in
	// one system call. Closed last, so every line is out when serve returns.
	sink := newLogSink(logOut)
	defer sink.Close()
	log := newLogger(&c, sink)
	secretKey, adminToken, generated, err := dataFiles(&c)
	if err != nil {
		return err
	}
	for _, f := range generated {
		log.Warn("generated a new secret file; production deployments should set VALET_SECRET and VALET_ADMIN_TOKEN from a secret store instead", "file", f)
	}

	// Listen before anything slow, so that a port in use is reported at once.
	pubLn, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another server using the port? choose another with --addr or VALET_ADDR)", c.Addr, err)
	}
	defer pubLn.Close()
	admLn, err := net.Listen("tcp", c.AdminAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another server using the port? choose another with --admin-addr or VALET_ADMIN_ADDR)", c.AdminAddr, err)
	}
	defer admLn.Close()

	db, err := openDB(ctx, &c)
	if err != nil {
		return err
	}
	defer db.Close()
	st := db.Store()
	// Every /token, /introspect and /revoke request reads its client; the
	// registration changes rarely, so each node remembers it briefly.
	st.Clients = &cache.Clients{Store: st.Clients, TTL: c.duration(c.ClientCacheTTL)}
	// Opted in, on SQLite, /token answers with an opaque access token once
	// its row is queued, not committed: the write no longer holds the answer.
	if c.AccessTokenWrites == "queued" {
		if q := db.QueuedAccess(func(n int, err error) {
			log.Warn("opaque access tokens already issued could not be stored: introspection finds them inactive, and their clients must ask for new ones", "tokens", n, "err", err)
		}); q != nil {
			st.Access = q
		}
	}

	sealer, err := secret.NewSealer(secretKey)
	if err != nil {
		return err
	}
	rotateEvery := c.duration(c.KeyRotation)
	ring := &keys.Ring{Store: st.Keys, Sealer: sealer, Log: log, Now: time.Now,
		RotateEvery: rotateEvery,
		// The longest-lived JWT Valet signs, plus clock skew between nodes.
		MaxTokenLifetime: max(c.duration(c.AccessTokenTTL), c.duration(c.IDTokenTTL)) + 5*time.Minute}
	if err := ring.Init(ctx); err != nil {
		return err
	}

	// Back-channel logout reaches apps through the one hardened outbound
	// client: public https addresses only, unless the operator allows more.
	cidrs, _ := c.outboundCIDRs()
	backchannel := &web.BackchannelNotifier{Client: &outbound.Client{AllowCIDRs: cidrs}, Log: log}

	public, admin := server.New(server.Options{
		Issuer: c.Issuer, Store: st, Keys: ring, Digester: secret.NewDigester(secretKey),
		AdminToken: adminToken, Log: log, AccessLog: accessLog(&c, sink), Now: time.Now,
		AccessTTL: c.duration(c.AccessTokenTTL), RefreshTTL: c.duration(c.RefreshTokenTTL),
		SessionTTL: c.duration(c.SessionTTL), ScopeDescriptions: c.Scopes,
		Audience: c.Audience, AccessAlg: c.AccessTokenAlg, LegacyGrantsOff: c.LegacyGrants == "off",
		IDTokenTTL: c.duration(c.IDTokenTTL), CustomClaims: c.CustomClaims, Backchannel: backchannel,
	})
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	servers := []*http.Server{
		newHTTPServer(public, errLog),
		newHTTPServer(admin, errLog),
	}

	bg, cancelBG := context.WithCancel(context.Background())
	defer cancelBG()
	go ring.Run(bg, time.Minute)
	go backchannel.Run(bg)
	if rotateEvery > 0 {
		go ring.RunRotation(bg, 10*time.Minute) // every node checks; the store lets one rotate
	}
	go janitor(bg, st, log, 5*time.Minute)

	errc := make(chan error, 2)
	for i, ln := range []net.Listener{pubLn, admLn} {
		go func() { errc <- servers[i].Serve(ln) }()
	}
	log.Info("valet is serving", "issuer", c.Issuer, "addr", pubLn.Addr().String(),
		"admin_addr", admLn.Addr().String(), "db", db.Dialect(), "version", version)
	if ready != nil {
		ready(pubLn.Addr(), admLn.Addr())
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(sctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
	}
	log.Info("stopped")
	return nil
}

// newHTTPServer sets the timeouts and limits net/http leaves open by default
// (catalogue DS-02): slow headers, slow bodies, idle connections, huge headers.
func newHTTPServer(h http.Handler, errLog *stdlog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          errLog,
	}
}

// expirers are the DeleteExpired of every table whose rows expire, by
// table name.
func expirers(st valet.Store) map[string]func(context.Context, time.Time) (int, error) {
	return map[string]func(context.Context, time.Time) (int, error){
		"sessions": st.Sessions.DeleteExpired, "codes": st.Codes.DeleteExpired,
		"refresh_tokens": st.Refresh.DeleteExpired, "access_tokens": st.Access.DeleteExpired,
		"revocations": st.Revocations.DeleteExpired, "replays": st.Replays.DeleteExpired,
		"signing_keys": st.Keys.DeleteExpired,
	}
}

// janitor deletes expired rows every interval, in the bounded batches the
// store uses, so that tables stop growing.
func janitor(ctx context.Context, st valet.Store, log *slog.Logger, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		for name, del := range expirers(st) {
			n, err := del(ctx, now)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("delete expired rows", "table", name, "err", err)
				}
				continue
			}
			if n > 0 {
				log.Debug("deleted expired rows", "table", name, "count", n)
			}
		}
	}
}
