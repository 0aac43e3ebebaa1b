package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/admin"
	"github.com/valetauth/valet/internal/grant"
	"github.com/valetauth/valet/internal/keys"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/throttle"
	"github.com/valetauth/valet/internal/token"
	"github.com/valetauth/valet/internal/web"
)

// Options is everything New needs; cmd/valet fills it from configuration.
type Options struct {
	Issuer     string
	Store      valet.Store
	Keys       *keys.Ring
	Digester   *secret.Digester
	AdminToken string
	Log        *slog.Logger
	Now        func() time.Time

	// Lifetimes; zero means each package's default (code 60 s, session 24 h,
	// access token 10 min, refresh token 30 days).
	CodeTTL, SessionTTL, AccessTTL, RefreshTTL time.Duration
	// ScopeDescriptions are the plain sentences the consent page shows per scope.
	ScopeDescriptions map[string]string
	// AccountLimiter limits failed password checks per username, shared by
	// the sign-in page and the password grant.
	AccountLimiter *throttle.Limiter
}

// New returns the public handler (protocol endpoints and pages) and the admin
// handler (the admin API, served on its own listener).
func New(o Options) (public, adminHandler http.Handler) {
	st := o.Store

	pub := http.NewServeMux()
	(&web.Handler{Issuer: o.Issuer, Clients: st.Clients, Users: st.Users, Sessions: st.Sessions,
		Consents: st.Consents, Codes: st.Codes, Replays: st.Replays, Digester: o.Digester,
		CodeTTL: o.CodeTTL, SessionTTL: o.SessionTTL, Secure: strings.HasPrefix(o.Issuer, "https://"),
		ScopeDescriptions: o.ScopeDescriptions, AccountLimiter: o.AccountLimiter,
		Log: o.Log, Now: o.Now}).Register(pub)
	tokens := &token.Issuer{URL: o.Issuer, Keys: o.Keys, AccessTTL: orDefault(o.AccessTTL, 10*time.Minute), Now: o.Now}
	audience := []string{o.Issuer}
	refreshTTL := orDefault(o.RefreshTTL, 30*24*time.Hour)
	(&grant.Handler{Clients: st.Clients, Digester: o.Digester, Realm: hostOf(o.Issuer), Log: o.Log,
		Grants: []grant.Grant{
			&grant.AuthorizationCode{Codes: st.Codes, Refresh: st.Refresh, Revocations: st.Revocations,
				Digester: o.Digester, Tokens: tokens, Audience: audience, RefreshTTL: refreshTTL, Now: o.Now, Log: o.Log},
			&grant.RefreshToken{Refresh: st.Refresh, Revocations: st.Revocations, Users: st.Users, Consents: st.Consents,
				Digester: o.Digester, Tokens: tokens, Audience: audience, RefreshTTL: refreshTTL, Now: o.Now, Log: o.Log},
		}}).Register(pub)
	pub.HandleFunc("GET /healthz", healthz)
	pub.Handle("GET /readyz", readyz(st.Ping))

	adm := http.NewServeMux()
	(&admin.Handler{Clients: st.Clients, Users: st.Users, Digester: o.Digester,
		Token: o.AdminToken, Log: o.Log, Now: o.Now}).Register(adm)
	adm.HandleFunc("GET /healthz", healthz)
	adm.Handle("GET /readyz", readyz(st.Ping))

	return withDefaults(pub, o.Log), withDefaults(adm, o.Log)
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// hostOf returns the host of the issuer URL, the realm of Basic challenges.
func hostOf(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return ""
	}
	return u.Host
}

// healthz answers 200 while the process is alive, whatever the database does,
// so that an orchestrator does not restart nodes during a database outage.
func healthz(w http.ResponseWriter, _ *http.Request) {
	oauth.WriteJSONValue(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the database answers within two seconds, 503 otherwise.
func readyz(ping func(context.Context) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ping(ctx); err != nil {
			w.Header().Set("Retry-After", "5")
			oauth.WriteJSONValue(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "the database does not answer"})
			return
		}
		oauth.WriteJSONValue(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}
