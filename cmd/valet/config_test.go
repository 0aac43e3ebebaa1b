package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadWith(t *testing.T, env map[string]string, args ...string) (config, error) {
	t.Helper()
	cmd := newServeCmd()
	cmd.PersistentFlags().AddFlagSet(newRootCmd().PersistentFlags())
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return loadConfig(cmd, func(k string) string { return env[k] })
}

func TestConfigDefaults(t *testing.T) {
	c, err := loadWith(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "http://localhost:8080" || c.Addr != ":8080" || c.AdminAddr != "127.0.0.1:8081" || c.Data != "./valet-data" {
		t.Errorf("defaults = %+v", c)
	}
	u, _ := c.dbURL()
	if !strings.HasPrefix(u, "sqlite:///") || !strings.HasSuffix(u, "valet-data/valet.db") {
		t.Errorf("default db = %q", u)
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "valet.yaml")
	os.WriteFile(file, []byte("issuer: https://yaml.example\naddr: :7001\nadmin_addr: 127.0.0.1:7002\nlog_format: json\n"), 0o600)

	c, err := loadWith(t, nil, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://yaml.example" || c.Addr != ":7001" || c.LogFormat != "json" {
		t.Errorf("yaml not applied: %+v", c)
	}
	c, err = loadWith(t, map[string]string{"VALET_ISSUER": "https://env.example", "VALET_CONFIG": file}, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://env.example" || c.Addr != ":7001" {
		t.Errorf("env should beat yaml: %+v", c)
	}
	c, err = loadWith(t, map[string]string{"VALET_ISSUER": "https://env.example"}, "--config", file, "--issuer", "https://flag.example")
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://flag.example" {
		t.Errorf("flag should beat env: %+v", c)
	}
}

func TestConfigErrorsSayWhatToFix(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.yaml")
	os.WriteFile(typo, []byte("isuer: https://x.example\n"), 0o600)
	broken := filepath.Join(dir, "broken.yaml")
	os.WriteFile(broken, []byte("issuer: [unclosed\n"), 0o600)

	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown yaml key", nil, []string{"--config", typo}, "isuer"},
		{"malformed yaml", nil, []string{"--config", broken}, "broken.yaml"},
		{"missing file", nil, []string{"--config", filepath.Join(dir, "none.yaml")}, "--config"},
		{"http issuer", nil, []string{"--issuer", "http://auth.example.com"}, "https"},
		{"issuer with query", nil, []string{"--issuer", "https://a.example?x=1"}, "query"},
		{"issuer trailing slash", nil, []string{"--issuer", "https://a.example/"}, "slash"},
		{"relative issuer", nil, []string{"--issuer", "auth.example"}, "absolute URL"},
		{"bad addr", nil, []string{"--addr", "8080"}, "host:port"},
		{"same listeners", nil, []string{"--addr", "127.0.0.1:9000", "--admin-addr", "127.0.0.1:9000"}, "own listener"},
		{"bad db", nil, []string{"--db", "mysql://x"}, "sqlite:///"},
		{"short secret", map[string]string{"VALET_SECRET": "abcd"}, nil, "openssl rand -hex 32"},
		{"short admin token", map[string]string{"VALET_ADMIN_TOKEN": "short"}, nil, "32 characters"},
		{"bad log format", nil, []string{"--log-format", "xml"}, "text or json"},
		{"bad log level", map[string]string{"VALET_LOG_LEVEL": "loud"}, nil, "debug, info"},
		{"key rotation too often", map[string]string{"VALET_KEY_ROTATION": "1h"}, nil, "from 24h"},
		{"access token ttl too long", map[string]string{"VALET_ACCESS_TOKEN_TTL": "48h"}, nil, "access_token_ttl"},
		{"legacy grants typo", nil, []string{"--legacy-grants", "no"}, "on or off"},
		{"access token alg", map[string]string{"VALET_ACCESS_TOKEN_ALG": "HS256"}, nil, "ES256 or RS256"},
		{"client cache too long", map[string]string{"VALET_CLIENT_CACHE_TTL": "5m"}, nil, "client_cache_ttl"},
		{"client cache negative", map[string]string{"VALET_CLIENT_CACHE_TTL": "-1s"}, nil, "client_cache_ttl"},
		{"access token writes unknown", map[string]string{"VALET_ACCESS_TOKEN_WRITES": "later"}, nil, "access_token_writes"},
		{"outbound cidr", map[string]string{"VALET_OUTBOUND_ALLOW_CIDRS": "10.0.0.0/33"}, nil, "CIDR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadWith(t, tc.env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v; want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestDecodeSecret(t *testing.T) {
	for _, s := range []string{strings.Repeat("0f", 32), "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="} {
		if b, err := decodeSecret(s); err != nil || len(b) < 32 {
			t.Errorf("decodeSecret(%q) = %d bytes, %v", s, len(b), err)
		}
	}
	for _, s := range []string{"", "zz", strings.Repeat("0f", 31)} {
		if _, err := decodeSecret(s); err == nil {
			t.Errorf("decodeSecret(%q) accepted", s)
		}
	}
}
