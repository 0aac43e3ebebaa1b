package bearer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Config says which tokens a Verifier accepts and where it finds the keys and
// the introspection endpoint. Issuer and Audience are required; every other
// field has a default.
type Config struct {
	// Issuer is the authorization server's issuer identifier, such as
	// "https://valet.example". A token's "iss" must equal it exactly
	// (RFC 9068 §4), and so must the "issuer" of the server's metadata
	// (RFC 8414 §3.3).
	Issuer string
	// Audience is this resource server's identifier, such as
	// "https://mail.example". A token's "aud" must contain it (RFC 9068 §4).
	Audience string

	// Algorithms are the JWS algorithms accepted on JWT access tokens; nil
	// means ["ES256"], the one Valet signs with. "none" and the HMAC
	// algorithms (HS256, HS384, HS512) are refused by NewVerifier: a resource
	// server holds no secret shared with the authorization server.
	Algorithms []string
	// Leeway is the clock skew tolerated on "exp", "nbf" and "iat". Zero
	// means 30 seconds; negative is an error.
	Leeway time.Duration

	// HTTPClient fetches the metadata and the keys and calls introspection.
	// Nil means a client with a 10-second timeout. It is never taken from a
	// request's context.
	HTTPClient *http.Client
	// JWKSURL is where the signing keys are published. "" means the
	// "jwks_uri" of the authorization server metadata (RFC 8414), fetched
	// once from the issuer's well-known URL.
	JWKSURL string
	// IntrospectionURL is the RFC 7662 endpoint. "" means the
	// "introspection_endpoint" of the metadata. It is used only when
	// ClientID is set.
	IntrospectionURL string

	// ClientID and ClientSecret authenticate this resource server at the
	// introspection endpoint (client_secret_basic, RFC 6749 §2.3.1). With
	// ClientID "" there is no introspection and opaque tokens are refused.
	ClientID     string
	ClientSecret string
	// IntrospectJWTs sends JWT access tokens to introspection too, after they
	// verify locally, so that a revoked token is refused within
	// IntrospectionCacheTTL rather than at its expiry. It needs ClientID.
	IntrospectJWTs bool
	// IntrospectionCacheTTL is how long an introspection answer is reused.
	// Zero means 30 seconds; negative turns the cache off. An entry never
	// outlives the token's "exp".
	IntrospectionCacheTTL time.Duration
	// IntrospectionCacheSize bounds the number of cached answers; zero means
	// 10,000. When it is full, expired entries and then random ones go.
	IntrospectionCacheSize int

	// Realm is the realm of the WWW-Authenticate challenges; "" means Audience.
	Realm string
	// ResourceMetadataURL, when set, is sent in 401 challenges as
	// resource_metadata (RFC 9728 §5.1); ResourceMetadata.URL gives it.
	ResourceMetadataURL string

	// Log receives why tokens were refused (at Debug) and why the
	// authorization server could not be reached (at Error); never a token.
	// Nil means slog.Default().
	Log *slog.Logger
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultLeeway                 = 30 * time.Second
	DefaultIntrospectionCacheTTL  = 30 * time.Second
	DefaultIntrospectionCacheSize = 10000
	defaultHTTPTimeout            = 10 * time.Second
)

// MaxTokenSize is the longest token looked at; anything longer is refused
// before it is parsed or sent anywhere (catalogue DS-01).
const MaxTokenSize = 16 << 10

// supportedAlgorithms are the asymmetric JWS algorithms a resource server can
// check with public keys alone.
var supportedAlgorithms = []string{
	"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA",
}

// Verifier checks the access tokens of one authorization server for one
// resource server. It is safe for concurrent use; create it once with
// NewVerifier and share it. It fetches the metadata and the keys lazily, on
// the first token that needs them, so a resource server can start before its
// authorization server.
type Verifier struct {
	cfg         Config
	algs        []string
	metadataURL string
	http        *http.Client
	log         *slog.Logger
	now         func() time.Time
	cache       *introspectionCache // nil when off

	// fetch is a one-slot semaphore: one metadata or JWKS fetch at a time,
	// and a waiter gives up when its request's context ends.
	fetch     chan struct{}
	endpoints atomic.Pointer[endpoints]
	keys      atomic.Pointer[keySet]
	// Guarded by fetch: no fetch before nextFetch (after a failure), no
	// unknown-kid refetch before nextUnknownKidFetch, no metadata fetch
	// before nextMetadataFetch; lastErr is the last failure's cause.
	nextFetch, nextUnknownKidFetch, nextMetadataFetch time.Time
	lastErr                                           error
}

type endpoints struct {
	jwks, introspection string
}

// NewVerifier checks cfg and returns a Verifier. It makes no request: the
// metadata and the keys are fetched when the first token needs them.
func NewVerifier(cfg Config) (*Verifier, error) {
	if err := checkURL("Issuer", cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.Audience == "" {
		return nil, errors.New("bearer: Config.Audience is required")
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = []string{"ES256"}
	}
	for _, a := range algs {
		// RFC 8725 §3.1: "libraries MUST enable the caller to specify a
		// supported set of algorithms and MUST NOT use any other algorithms".
		// "none" carries no signature and HS* would need a shared secret,
		// which a resource server must not hold (RFC 8725 §2.1).
		if !slices.Contains(supportedAlgorithms, a) {
			return nil, fmt.Errorf("bearer: algorithm %q is not accepted; use one of %s", a, strings.Join(supportedAlgorithms, ", "))
		}
	}
	switch {
	case cfg.Leeway < 0:
		return nil, errors.New("bearer: Config.Leeway must not be negative")
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultLeeway
	}
	for name, u := range map[string]string{"JWKSURL": cfg.JWKSURL, "IntrospectionURL": cfg.IntrospectionURL, "ResourceMetadataURL": cfg.ResourceMetadataURL} {
		if u != "" {
			if err := checkURL(name, u); err != nil {
				return nil, err
			}
		}
	}
	if cfg.ClientID != "" && cfg.ClientSecret == "" {
		return nil, errors.New("bearer: Config.ClientSecret is required with ClientID (introspection uses client_secret_basic)")
	}
	if cfg.IntrospectJWTs && cfg.ClientID == "" {
		return nil, errors.New("bearer: Config.IntrospectJWTs needs ClientID and ClientSecret")
	}
	if cfg.Realm == "" {
		cfg.Realm = cfg.Audience
	}
	v := &Verifier{
		cfg:         cfg,
		algs:        slices.Clone(algs),
		metadataURL: metadataURL(cfg.Issuer),
		http:        cfg.HTTPClient,
		log:         cfg.Log,
		now:         cfg.Now,
		fetch:       make(chan struct{}, 1),
	}
	if v.http == nil {
		v.http = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	if v.now == nil {
		v.now = time.Now
	}
	if cfg.ClientID != "" && cfg.IntrospectionCacheTTL >= 0 {
		ttl, size := cfg.IntrospectionCacheTTL, cfg.IntrospectionCacheSize
		if ttl == 0 {
			ttl = DefaultIntrospectionCacheTTL
		}
		if size <= 0 {
			size = DefaultIntrospectionCacheSize
		}
		v.cache = &introspectionCache{ttl: ttl, max: size, m: map[[32]byte]cacheEntry{}}
	}
	// With every URL configured the metadata is never needed.
	if cfg.JWKSURL != "" && (cfg.ClientID == "" || cfg.IntrospectionURL != "") {
		v.endpoints.Store(&endpoints{jwks: cfg.JWKSURL, introspection: cfg.IntrospectionURL})
	}
	return v, nil
}

func checkURL(field, raw string) error {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("bearer: Config.%s must be an absolute http(s) URL, got %q", field, raw)
	}
	return nil
}

// Token is what a verified access token says. Require puts it in the
// request's context; FromContext gets it back.
type Token struct {
	Subject  string    // "sub": the user, or the client itself for client credentials
	ClientID string    // "client_id": the application that holds the token
	Scopes   []string  // "scope", split on spaces
	Audience []string  // "aud"
	Expiry   time.Time // "exp"
	IssuedAt time.Time // "iat"; zero when an introspection answer omits it
	ID       string    // "jti"; "" when an introspection answer omits it
	// Claims are every member of the JWT payload or of the introspection
	// answer, as encoding/json decodes them into an any (numbers are float64).
	Claims map[string]any
}

// HasScope reports whether the token carries scope s.
func (t *Token) HasScope(s string) bool { return slices.Contains(t.Scopes, s) }

// clone returns a copy that a handler may change without touching the cache.
func (t *Token) clone() *Token {
	c := *t
	c.Scopes = slices.Clone(t.Scopes)
	c.Audience = slices.Clone(t.Audience)
	c.Claims = maps.Clone(t.Claims)
	return &c
}

// Verify checks raw, the token as it came after "Bearer ", and returns what
// it says. A token with exactly two dots is a JWT access token (RFC 9068),
// checked locally: its signature with the published keys, then "iss",
// "aud", "exp", "nbf" and "iat". A token without dots is opaque and goes to
// the introspection endpoint (RFC 7662), when ClientID is configured.
//
// The error is an *Error. errors.Is(err, ErrInvalidToken) means the token is
// refused; errors.Is(err, ErrUnavailable) means it could not be checked
// because the authorization server could not be reached. Both refuse access.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Token, error) {
	// Catalogue DS-01: bound the work before any parsing. Counting dots
	// allocates nothing, unlike strings.Split (CVE-2025-30204).
	if len(raw) > MaxTokenSize {
		return nil, invalid("the token is too large", nil)
	}
	if !isB64Token(raw) {
		return nil, invalid("the token is malformed", nil)
	}
	switch strings.Count(raw, ".") {
	case 2:
		tok, err := v.verifyJWT(ctx, raw)
		if err != nil || !v.cfg.IntrospectJWTs {
			return tok, err
		}
		if _, err := v.introspect(ctx, raw); err != nil {
			return nil, err
		}
		return tok, nil
	case 0:
		if v.cfg.ClientID == "" {
			return nil, invalid("opaque tokens are not accepted here", errors.New("the token has no dots and introspection is not configured (Config.ClientID)"))
		}
		return v.introspect(ctx, raw)
	default:
		return nil, invalid("the token is malformed", nil)
	}
}

// isB64Token reports whether s is a b64token (RFC 6750 §2.1):
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	t := strings.TrimRight(s, "=")
	if t == "" {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// ErrInvalidToken and ErrUnavailable are the two kinds of failure of Verify;
// test for them with errors.Is.
var (
	ErrInvalidToken = errors.New("bearer: invalid token")
	ErrUnavailable  = errors.New("bearer: the authorization server could not be reached")
)

// Error says why Verify refused a token.
type Error struct {
	// Code is "invalid_token" (RFC 6750 §3.1), or "temporarily_unavailable"
	// when the token could not be checked.
	Code string
	// Description is a short sentence safe to send to the client.
	Description string
	// Err is the cause, for logs; it is never sent.
	Err error
}

// Error codes of Error.Code.
const (
	CodeInvalidToken = "invalid_token"
	CodeUnavailable  = "temporarily_unavailable"
)

func (e *Error) Error() string {
	if e.Err != nil {
		return "bearer: " + e.Code + ": " + e.Description + ": " + e.Err.Error()
	}
	return "bearer: " + e.Code + ": " + e.Description
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches ErrInvalidToken or ErrUnavailable by Code.
func (e *Error) Is(target error) bool {
	return target == ErrInvalidToken && e.Code == CodeInvalidToken ||
		target == ErrUnavailable && e.Code == CodeUnavailable
}

func invalid(description string, cause error) *Error {
	return &Error{Code: CodeInvalidToken, Description: description, Err: cause}
}

func unavailable(description string, cause error) *Error {
	return &Error{Code: CodeUnavailable, Description: description, Err: cause}
}
