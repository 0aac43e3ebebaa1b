package server

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/admin"
	"github.com/valetauth/valet/internal/grant"
	"github.com/valetauth/valet/internal/keys"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/oidc"
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
	// AccessLog, when set, writes the line per request itself, in the
	// format of Log's handler, instead of through Log.
	AccessLog *AccessLog
	Now       func() time.Time

	// Lifetimes; zero means each package's default (code 60 s, session 24 h,
	// access token 10 min, refresh token 30 days).
	CodeTTL, SessionTTL, AccessTTL, RefreshTTL time.Duration
	// ScopeDescriptions are the plain sentences the consent page shows per scope.
	ScopeDescriptions map[string]string
	// AccountLimiter limits failed password checks per username, shared by
	// the sign-in page and the password grant.
	AccountLimiter *throttle.Limiter
	// Audience is the default "aud" of access tokens; the issuer when empty.
	Audience string
	// AccessAlg signs JWT access tokens: "ES256" (the default when empty)
	// or "RS256".
	AccessAlg string
	// LegacyGrantsOff refuses the implicit and password grants server-wide
	// (RFC 9700 §2.1.2, §2.4), even for clients that registered them.
	LegacyGrantsOff bool
	// IDTokenTTL is the lifetime of ID tokens; zero means 1 h. The key
	// ring's MaxTokenLifetime must cover it.
	IDTokenTTL time.Duration
	// CustomClaims maps a scope to the User.Claims it releases in ID tokens
	// and at UserInfo; check it with token.ValidateCustomClaims.
	CustomClaims map[string][]string
	// Backchannel delivers OpenID Connect back-channel logout tokens; nil
	// turns back-channel logout off. The caller runs it (Run).
	Backchannel *web.BackchannelNotifier
}

// New returns the public handler (protocol endpoints and pages) and the admin
// handler (the admin API, served on its own listener).
func New(o Options) (public, adminHandler http.Handler) {
	st := o.Store
	tokens := &token.Issuer{URL: o.Issuer, Keys: o.Keys, AccessTTL: orDefault(o.AccessTTL, 10*time.Minute),
		AccessAlg: o.AccessAlg, Now: o.Now}
	minter := &token.Minter{Issuer: tokens, Access: st.Access, Digester: o.Digester}
	introspector := &token.Introspector{Issuer: tokens, Access: st.Access, Refresh: st.Refresh,
		Revocations: st.Revocations, Consents: st.Consents, Clients: st.Clients, Digester: o.Digester, Now: o.Now}
	audience := []string{o.Issuer}
	if o.Audience != "" {
		audience = []string{o.Audience}
	}
	refreshTTL := orDefault(o.RefreshTTL, 30*24*time.Hour)
	// One budget of failed password checks per account, shared by the
	// sign-in page and the password grant.
	accounts := o.AccountLimiter
	if accounts == nil {
		accounts = throttle.NewAccountLimiter(o.Now)
	}
	// OpenID Connect: ID tokens (from /authorize and /token) and UserInfo
	// name the person and release claims the same way.
	subjects := token.Subjects{PairwiseKey: o.Digester.Key(token.PairwisePurpose)}
	claims := token.ClaimRules{Custom: o.CustomClaims}
	ids := &grant.IDTokens{Subjects: subjects, Claims: claims, TTL: o.IDTokenTTL}

	pub := http.NewServeMux()
	(&web.Handler{Issuer: o.Issuer, Clients: st.Clients, Users: st.Users, Sessions: st.Sessions,
		Consents: st.Consents, Codes: st.Codes, Replays: st.Replays, Digester: o.Digester,
		Refresh: st.Refresh, Revocations: st.Revocations, AccessTTL: tokens.AccessTTL,
		CodeTTL: o.CodeTTL, SessionTTL: o.SessionTTL, Secure: strings.HasPrefix(o.Issuer, "https://"),
		ScopeDescriptions: o.ScopeDescriptions, AccountLimiter: accounts,
		Tokens: minter, Audience: audience, ImplicitDisabled: o.LegacyGrantsOff,
		IDTokens: tokens, IDTokenTTL: o.IDTokenTTL, Subjects: subjects, Claims: claims,
		Log: o.Log, Now: o.Now}).Register(pub)
	(&web.LogoutHandler{Issuer: o.Issuer, Clients: st.Clients, Sessions: st.Sessions, Consents: st.Consents,
		Users: st.Users, Digester: o.Digester, Tokens: tokens, Notifier: o.Backchannel, Subjects: subjects,
		Secure: strings.HasPrefix(o.Issuer, "https://"), Log: o.Log, Now: o.Now}).Register(pub)
	(&grant.Handler{Clients: st.Clients, Digester: o.Digester, Realm: hostOf(o.Issuer), Log: o.Log, Now: o.Now,
		PasswordGrantDisabled: o.LegacyGrantsOff,
		Introspector:          introspector, Refresh: st.Refresh, Revocations: st.Revocations,
		Grants: []grant.Grant{
			&grant.AuthorizationCode{Codes: st.Codes, Refresh: st.Refresh, Revocations: st.Revocations, Access: st.Access,
				Digester: o.Digester, Tokens: tokens, IDTokens: ids, Users: st.Users, Consents: st.Consents, Audience: audience,
				RefreshTTL: refreshTTL, Now: o.Now, Log: o.Log},
			&grant.RefreshToken{Refresh: st.Refresh, Revocations: st.Revocations, Users: st.Users, Consents: st.Consents,
				Access: st.Access, Digester: o.Digester, Tokens: tokens, IDTokens: ids, Audience: audience,
				RefreshTTL: refreshTTL, Now: o.Now, Log: o.Log},
			&grant.ClientCredentials{Tokens: tokens, Access: st.Access, Digester: o.Digester, Audience: audience},
			&grant.Password{Users: st.Users, Consents: st.Consents, Refresh: st.Refresh, Access: st.Access,
				Digester: o.Digester, Tokens: tokens, IDTokens: ids, Limiter: accounts, Audience: audience,
				RefreshTTL: refreshTTL, Now: o.Now, Log: o.Log},
		}}).Register(pub)
	(&oidc.Handler{Issuer: o.Issuer, Keys: o.Keys, Log: o.Log, Supported: oidc.Supported{
		AuthorizationCode: true, RefreshToken: true, ClientCredentials: true,
		Implicit: !o.LegacyGrantsOff, Password: !o.LegacyGrantsOff,
		Introspection: true, Revocation: true,
		Scopes: slices.Sorted(maps.Keys(o.ScopeDescriptions)),
		OpenID: true, IDTokenResponseTypes: !o.LegacyGrantsOff, FormPost: true, EndSession: true,
		BackchannelLogout: o.Backchannel != nil, BackchannelLogoutSession: o.Backchannel != nil,
	}, Introspector: introspector, Users: st.Users, Clients: st.Clients, Subjects: subjects, Claims: claims}).Register(pub)
	pub.HandleFunc("GET /healthz", healthz)
	pub.Handle("GET /readyz", readyz(st.Ping))

	adm := http.NewServeMux()
	(&admin.Handler{Clients: st.Clients, Users: st.Users, Digester: o.Digester,
		Keys: st.Keys, Rotator: o.Keys, Introspector: introspector,
		Token: o.AdminToken, Log: o.Log, Now: o.Now}).Register(adm)
	adm.HandleFunc("GET /healthz", healthz)
	adm.Handle("GET /readyz", readyz(st.Ping))

	return withDefaults(pub, o.Log, o.AccessLog), withDefaults(adm, o.Log, o.AccessLog)
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
