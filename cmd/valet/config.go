package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/token"
	"go.yaml.in/yaml/v3"
)

// config is everything `valet serve` can be told. Values come from, in order
// of precedence: flags, VALET_* environment variables, the YAML file named by
// --config (or VALET_CONFIG), and the zero-configuration defaults.
type config struct {
	Issuer     string `yaml:"issuer"`      // VALET_ISSUER, --issuer
	Addr       string `yaml:"addr"`        // VALET_ADDR, --addr
	AdminAddr  string `yaml:"admin_addr"`  // VALET_ADMIN_ADDR, --admin-addr
	Data       string `yaml:"data"`        // VALET_DATA, --data
	DB         string `yaml:"db"`          // VALET_DB, --db
	Secret     string `yaml:"secret"`      // VALET_SECRET
	AdminToken string `yaml:"admin_token"` // VALET_ADMIN_TOKEN
	LogFormat  string `yaml:"log_format"`  // VALET_LOG_FORMAT, --log-format: text or json
	LogLevel   string `yaml:"log_level"`   // VALET_LOG_LEVEL, --log-level: debug, info, warn, error

	// Audience is the default "aud" of access tokens (VALET_AUDIENCE); the issuer when empty.
	Audience string `yaml:"audience"`
	// LegacyGrants turns the implicit and password grants on or off for the
	// whole server (VALET_LEGACY_GRANTS, --legacy-grants): "on" lets clients
	// that registered them use them; "off" refuses them for everyone.
	LegacyGrants string `yaml:"legacy_grants"`
	// AccessTokenAlg signs JWT access tokens: ES256 (the default) or RS256
	// (VALET_ACCESS_TOKEN_ALG).
	AccessTokenAlg string `yaml:"access_token_alg"`
	// Lifetimes, as Go durations ("10m", "720h").
	AccessTokenTTL  string `yaml:"access_token_ttl"`  // VALET_ACCESS_TOKEN_TTL
	IDTokenTTL      string `yaml:"id_token_ttl"`      // VALET_ID_TOKEN_TTL
	RefreshTokenTTL string `yaml:"refresh_token_ttl"` // VALET_REFRESH_TOKEN_TTL
	SessionTTL      string `yaml:"session_ttl"`       // VALET_SESSION_TTL
	// KeyRotation is how often signing keys rotate ("0" never; VALET_KEY_ROTATION).
	KeyRotation string `yaml:"key_rotation"`
	// ClientCacheTTL is how long a node trusts a client registration it
	// read ("0" reads it on every request; VALET_CLIENT_CACHE_TTL). A change
	// made on this node applies at once; one made on another node sharing
	// the database applies here within this time.
	ClientCacheTTL string `yaml:"client_cache_ttl"`
	// AccessTokenWrites says when /token answers with an opaque access token
	// on SQLite: "committed" (the default) once its row is committed, as the
	// security catalogue pins (never acknowledge what is not persisted);
	// "queued", an operator's opt-in, once the token is queued for the batch
	// writer, which commits within milliseconds, so that a killed process
	// loses the tokens of those milliseconds (VALET_ACCESS_TOKEN_WRITES).
	// PostgreSQL always commits first.
	AccessTokenWrites string `yaml:"access_token_writes"`
	// OutboundAllowCIDRs lets Valet's outbound requests (back-channel logout)
	// reach these internal networks, comma-separated, such as
	// "10.0.0.0/8,127.0.0.1/32" (VALET_OUTBOUND_ALLOW_CIDRS). By default only
	// public https addresses are reached.
	OutboundAllowCIDRs string `yaml:"outbound_allow_cidrs"`
	// Scopes gives each scope the plain sentence the consent page shows (YAML only).
	Scopes map[string]string `yaml:"scopes"`
	// CustomClaims maps a scope to the user claims (User.Claims) it releases
	// in ID tokens and at UserInfo (YAML only).
	CustomClaims map[string][]string `yaml:"custom_claims"`
}

// duration parses one of a validated config's lifetimes.
func (c *config) duration(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}

func defaultConfig() config {
	return config{
		Issuer:    "http://localhost:8080",
		Addr:      ":8080",
		AdminAddr: "127.0.0.1:8081",
		Data:      "./valet-data",
		LogFormat: "text",
		LogLevel:  "info",

		LegacyGrants:    "on",
		AccessTokenTTL:  "10m",
		IDTokenTTL:      "1h",
		RefreshTokenTTL: "720h",
		SessionTTL:      "24h",
		KeyRotation:     "720h",
		ClientCacheTTL:  "2s",
		AccessTokenAlg:  "ES256",

		AccessTokenWrites: "committed",
	}
}

// setting ties one config field to its flag, environment variable and YAML key.
type setting struct {
	flag, env string
	field     func(*config) *string
}

var settings = []setting{
	{"issuer", "VALET_ISSUER", func(c *config) *string { return &c.Issuer }},
	{"addr", "VALET_ADDR", func(c *config) *string { return &c.Addr }},
	{"admin-addr", "VALET_ADMIN_ADDR", func(c *config) *string { return &c.AdminAddr }},
	{"data", "VALET_DATA", func(c *config) *string { return &c.Data }},
	{"db", "VALET_DB", func(c *config) *string { return &c.DB }},
	{"", "VALET_SECRET", func(c *config) *string { return &c.Secret }},
	{"", "VALET_ADMIN_TOKEN", func(c *config) *string { return &c.AdminToken }},
	{"log-format", "VALET_LOG_FORMAT", func(c *config) *string { return &c.LogFormat }},
	{"log-level", "VALET_LOG_LEVEL", func(c *config) *string { return &c.LogLevel }},
	{"audience", "VALET_AUDIENCE", func(c *config) *string { return &c.Audience }},
	{"legacy-grants", "VALET_LEGACY_GRANTS", func(c *config) *string { return &c.LegacyGrants }},
	{"", "VALET_ACCESS_TOKEN_TTL", func(c *config) *string { return &c.AccessTokenTTL }},
	{"", "VALET_ID_TOKEN_TTL", func(c *config) *string { return &c.IDTokenTTL }},
	{"", "VALET_REFRESH_TOKEN_TTL", func(c *config) *string { return &c.RefreshTokenTTL }},
	{"", "VALET_SESSION_TTL", func(c *config) *string { return &c.SessionTTL }},
	{"", "VALET_KEY_ROTATION", func(c *config) *string { return &c.KeyRotation }},
	{"", "VALET_ACCESS_TOKEN_ALG", func(c *config) *string { return &c.AccessTokenAlg }},
	{"", "VALET_CLIENT_CACHE_TTL", func(c *config) *string { return &c.ClientCacheTTL }},
	{"", "VALET_ACCESS_TOKEN_WRITES", func(c *config) *string { return &c.AccessTokenWrites }},
	{"", "VALET_OUTBOUND_ALLOW_CIDRS", func(c *config) *string { return &c.OutboundAllowCIDRs }},
}

// addServeFlags declares the flags of serve and migrate. --data is the root's
// persistent flag.
func addServeFlags(cmd *cobra.Command) {
	d := defaultConfig()
	f := cmd.Flags()
	f.String("config", "", "YAML configuration file (env VALET_CONFIG)")
	f.String("issuer", d.Issuer, "issuer URL: the public address clients use (env VALET_ISSUER)")
	f.String("addr", d.Addr, "public listener address (env VALET_ADDR)")
	f.String("admin-addr", d.AdminAddr, "admin API listener address; keep it private (env VALET_ADMIN_ADDR)")
	f.String("db", "", "database: sqlite:///path/valet.db or postgres://user@host/db (env VALET_DB; default: valet.db in the data directory)")
	f.String("log-format", d.LogFormat, "log format: text or json (env VALET_LOG_FORMAT)")
	f.String("log-level", d.LogLevel, "log level: debug, info, warn or error (env VALET_LOG_LEVEL)")
	f.String("audience", "", "default audience (aud) of access tokens (env VALET_AUDIENCE; default: the issuer)")
	f.String("legacy-grants", d.LegacyGrants, "on: clients that registered the implicit or password grant may use them; off: refused for all (env VALET_LEGACY_GRANTS)")
}

// loadConfig merges defaults, the YAML file, the environment and the flags
// that were set, then validates the result.
func loadConfig(cmd *cobra.Command, getenv func(string) string) (config, error) {
	c := defaultConfig()
	path := getenv("VALET_CONFIG")
	if f := cmd.Flags().Lookup("config"); f != nil && f.Changed {
		path = f.Value.String()
	}
	if path != "" {
		if err := readYAML(path, &c); err != nil {
			return c, err
		}
	}
	for _, s := range settings {
		if v := getenv(s.env); v != "" {
			*s.field(&c) = v
		}
		if s.flag == "" {
			continue
		}
		if f := cmd.Flags().Lookup(s.flag); f != nil && f.Changed {
			*s.field(&c) = f.Value.String()
		}
	}
	return c, c.validate()
}

func readYAML(path string, c *config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read the config file: %w (check --config / VALET_CONFIG)", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %v (known keys: issuer, addr, admin_addr, data, db, secret, admin_token, log_format, log_level, audience, legacy_grants, access_token_alg, access_token_ttl, refresh_token_ttl, session_ttl, key_rotation, client_cache_ttl, access_token_writes, outbound_allow_cidrs, id_token_ttl, scopes, custom_claims)", path, err)
	}
	return nil
}

// validate checks every value and says what to fix.
func (c *config) validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if err := validateIssuer(c.Issuer); err != nil {
		add("issuer %q: %v", c.Issuer, err)
	}
	for name, addr := range map[string]string{"addr": c.Addr, "admin-addr": c.AdminAddr} {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			add("%s %q: want host:port or :port, such as :8080", name, addr)
		}
	}
	if _, port, _ := net.SplitHostPort(c.Addr); c.Addr == c.AdminAddr && port != "0" {
		add("addr and admin-addr are both %q: the admin API needs its own listener", c.Addr)
	}
	if c.Data == "" {
		add("data: the data directory must not be empty")
	}
	if c.DB != "" && !strings.HasPrefix(c.DB, "sqlite://") && !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://") {
		add("db: want sqlite:///path/valet.db or postgres://user@host:5432/dbname")
	}
	if c.Secret != "" {
		if _, err := decodeSecret(c.Secret); err != nil {
			add("VALET_SECRET: %v", err)
		}
	}
	if c.AdminToken != "" && len(c.AdminToken) < 32 {
		add("VALET_ADMIN_TOKEN: must be at least 32 characters; generate one with: openssl rand -hex 32")
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		add("log-format %q: want text or json", c.LogFormat)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		add("log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.Audience != "" && valet.ValidateResource(c.Audience) != nil {
		add("audience %q: want an absolute URI without a fragment, such as https://api.example.com", c.Audience)
	}
	if !slices.Contains(token.AccessAlgs, c.AccessTokenAlg) {
		add("access_token_alg (VALET_ACCESS_TOKEN_ALG) %q: want %s", c.AccessTokenAlg, strings.Join(token.AccessAlgs, " or "))
	}
	if c.LegacyGrants != "on" && c.LegacyGrants != "off" {
		add("legacy-grants %q: want on or off", c.LegacyGrants)
	}
	for _, d := range []struct {
		name, value string
		min, max    time.Duration
	}{
		{"access_token_ttl (VALET_ACCESS_TOKEN_TTL)", c.AccessTokenTTL, time.Minute, 24 * time.Hour},
		{"id_token_ttl (VALET_ID_TOKEN_TTL)", c.IDTokenTTL, time.Minute, 24 * time.Hour},
		{"refresh_token_ttl (VALET_REFRESH_TOKEN_TTL)", c.RefreshTokenTTL, time.Hour, 365 * 24 * time.Hour},
		{"session_ttl (VALET_SESSION_TTL)", c.SessionTTL, time.Minute, 90 * 24 * time.Hour},
	} {
		if v, err := time.ParseDuration(d.value); err != nil || v < d.min || v > d.max {
			add("%s %q: want a duration such as 10m or 720h, between %v and %v", d.name, d.value, d.min, d.max)
		}
	}
	// Key rotation: 0 turns it off; otherwise at least a day, so that keys
	// published an hour before they sign do not pile up.
	if v, err := time.ParseDuration(c.KeyRotation); err != nil || v < 0 || (v != 0 && v < 24*time.Hour) || v > 10*365*24*time.Hour {
		add("key_rotation (VALET_KEY_ROTATION) %q: want 0 (never) or a duration from 24h to 87600h, such as 720h", c.KeyRotation)
	}
	// The client cache: a change on another node must show within a minute.
	if v, err := time.ParseDuration(c.ClientCacheTTL); err != nil || v < 0 || v > time.Minute {
		add("client_cache_ttl (VALET_CLIENT_CACHE_TTL) %q: want 0 (no cache) or a duration up to 1m, such as 2s", c.ClientCacheTTL)
	}
	if c.AccessTokenWrites != "queued" && c.AccessTokenWrites != "committed" {
		add("access_token_writes (VALET_ACCESS_TOKEN_WRITES) %q: want committed (the default) or queued", c.AccessTokenWrites)
	}
	if _, err := c.outboundCIDRs(); err != nil {
		add("outbound_allow_cidrs (VALET_OUTBOUND_ALLOW_CIDRS): %v; want a comma-separated list such as 10.0.0.0/8,127.0.0.1/32", err)
	}
	if err := token.ValidateCustomClaims(c.CustomClaims); err != nil {
		add("custom_claims: %v", err)
	}
	for scope, text := range c.Scopes {
		if !valet.ValidScopeToken(scope) || text == "" || len(text) > 300 {
			add("scopes: %q needs a valid scope name and a sentence of at most 300 characters", scope)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("invalid configuration:\n  - %s", strings.Join(problems, "\n  - "))
	}
	return nil
}

// outboundCIDRs parses OutboundAllowCIDRs.
func (c *config) outboundCIDRs() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(c.OutboundAllowCIDRs, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// validateIssuer enforces RFC 8414 §2: an https URL with no query or
// fragment; http is allowed only for localhost and loopback addresses, for
// development.
func validateIssuer(s string) error {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New("want an absolute URL such as https://auth.example.com")
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "#") || strings.HasSuffix(s, "?") {
		return errors.New("must not have a query or fragment")
	}
	if strings.HasSuffix(u.Path, "/") {
		return errors.New("must not end with a slash")
	}
	if u.User != nil {
		return errors.New("must not contain user info")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if h := u.Hostname(); h != "localhost" && !valet.IsLoopbackIPHost(h) {
			return errors.New("must use https (http is only for localhost development)")
		}
	default:
		return errors.New("must use https")
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

// decodeSecret accepts 32 or more bytes as hex or base64.
func decodeSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.Trim(s, "0123456789abcdefABCDEF") == "" {
		// All hex digits: read it as hex, never as base64 of the same characters.
		if b, err := hex.DecodeString(s); err == nil && len(b) >= 32 {
			return b, nil
		}
		return nil, errors.New("must be at least 32 random bytes (64 hex characters); generate one with: openssl rand -hex 32")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) >= 32 {
			return b, nil
		}
	}
	return nil, errors.New("must be at least 32 random bytes as hex or base64; generate one with: openssl rand -hex 32")
}

// dataFiles resolves the key-encryption secret and the admin token: from the
// configuration when set, otherwise from files in the data directory, which
// are generated (mode 0600) on first start. generated names the files made.
func dataFiles(c *config) (secretKey []byte, adminToken string, generated []string, err error) {
	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		return nil, "", nil, fmt.Errorf("create the data directory %s: %w (set --data or VALET_DATA to a writable directory)", c.Data, err)
	}
	if c.Secret != "" {
		secretKey, _ = decodeSecret(c.Secret)
	} else {
		s, made, err := readOrCreate(filepath.Join(c.Data, "secret"), func() string { return randomHex(32) })
		if err != nil {
			return nil, "", nil, err
		}
		if secretKey, err = decodeSecret(s); err != nil {
			return nil, "", nil, fmt.Errorf("%s: %w", filepath.Join(c.Data, "secret"), err)
		}
		if made {
			generated = append(generated, filepath.Join(c.Data, "secret"))
		}
	}
	adminToken = c.AdminToken
	if adminToken == "" {
		t, made, err := readOrCreate(filepath.Join(c.Data, "admin-token"), func() string { return "vadm_" + randomHex(32) })
		if err != nil {
			return nil, "", nil, err
		}
		if len(t) < 32 {
			return nil, "", nil, fmt.Errorf("%s: the admin token must be at least 32 characters", filepath.Join(c.Data, "admin-token"))
		}
		adminToken = t
		if made {
			generated = append(generated, filepath.Join(c.Data, "admin-token"))
		}
	}
	return secretKey, adminToken, generated, nil
}

// readOrCreate returns the trimmed content of path, creating it with mode
// 0600 from gen when it does not exist. O_EXCL makes concurrent first starts
// agree on one value.
func readOrCreate(path string, gen func() string) (string, bool, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(bytes.TrimSpace(b)) == 0 {
		// Another node may have created the file a moment ago; give it time to write.
		time.Sleep(100 * time.Millisecond)
		b, err = os.ReadFile(path)
	}
	if err == nil {
		return strings.TrimSpace(string(b)), false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("read %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readOrCreate(path, gen)
	}
	if err != nil {
		return "", false, fmt.Errorf("create %s: %w", path, err)
	}
	v := gen()
	if _, err := f.WriteString(v + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", false, fmt.Errorf("write %s: %w", path, err)
	}
	return v, true, f.Close()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// dbURL is the database URL: --db, or valet.db in the data directory.
func (c *config) dbURL() (string, error) {
	if c.DB != "" {
		return c.DB, nil
	}
	abs, err := filepath.Abs(filepath.Join(c.Data, "valet.db"))
	if err != nil {
		return "", err
	}
	return "sqlite://" + abs, nil
}
