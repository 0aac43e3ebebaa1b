package oidc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/keys"
	"github.com/valetauth/valet/internal/token"
)

// KeySet is where the public keys come from; *keys.Ring implements it.
type KeySet interface {
	JWKS() jose.JSONWebKeySet
}

// Handler serves the metadata and the JWK Set. Its fields are its
// dependencies; set them with a struct literal and call Register.
type Handler struct {
	// Issuer is the issuer identifier, exactly as tokens carry it in "iss";
	// the metadata repeats it unchanged (RFC 8414 §3.3).
	Issuer string
	Keys   KeySet
	// Supported says what the metadata advertises, and nothing else.
	Supported Supported

	// UserInfo (OpenID Connect Core §5.3), served when Supported.OpenID is
	// set. Introspector checks access tokens of either format against the
	// deny-list; Users and Clients give the person's current record and
	// the client's subject type. Subjects and Claims must be the ones the
	// token endpoint's ID tokens use, so that both say the same sub and
	// claims; Claims also lists claims_supported.
	Introspector *token.Introspector
	Users        valet.UserStore
	Clients      valet.ClientStore
	Subjects     token.Subjects
	Claims       token.ClaimRules

	Log *slog.Logger // nil discards

	realm string // the issuer's host, the realm of Bearer challenges
}

// JWKSPath is where the public keys are served; the metadata's jwks_uri.
const JWKSPath = "/jwks"

// cacheControl lets browsers, proxies and resource servers cache both
// documents for the JWKS max-age, which the keys package guarantees is no
// longer than a new key's pre-publication (pin P21, catalogue §3.1).
var cacheControl = fmt.Sprintf("public, max-age=%d", int(keys.JWKSMaxAge.Seconds()))

// Register adds GET /jwks and the metadata to mux, and with OpenID Connect
// on the discovery document and /userinfo. For an issuer with a path, such
// as https://example.com/tenant, the RFC 8414 metadata is served both at
// /.well-known/oauth-authorization-server/tenant, where RFC 8414 §3.1 puts
// it, and at /.well-known/oauth-authorization-server; the OpenID document
// at /tenant/.well-known/openid-configuration, where Discovery §4 puts it,
// and at /.well-known/openid-configuration (a proxy that strips the path
// sends it there). It panics on a wiring mistake that must not reach a
// client: an issuer that is not an absolute http(s) URL without query or
// fragment, or OpenID Connect without the dependencies of /userinfo.
func (h *Handler) Register(mux *http.ServeMux) {
	u, err := url.Parse(h.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		panic(fmt.Sprintf("oidc: issuer %q is not an http(s) URL without query and fragment (RFC 8414 §2)", h.Issuer))
	}
	if h.Supported.OpenID {
		if h.Introspector == nil || h.Users == nil || h.Clients == nil {
			panic("oidc: OpenID Connect needs Introspector, Users and Clients to serve /userinfo")
		}
		// cmd/valet checks the mapping first; this is the second line.
		if err := token.ValidateCustomClaims(h.Claims.Custom); err != nil {
			panic(fmt.Sprintf("oidc: %v", err))
		}
	}
	h.realm = u.Host
	doc, err := json.Marshal(h.metadata())
	if err != nil {
		panic(fmt.Sprintf("oidc: encode metadata: %v", err))
	}
	doc = append(doc, '\n')
	serveDoc := func(w http.ResponseWriter, _ *http.Request) { writePublic(w, doc) }
	p := strings.TrimSuffix(u.EscapedPath(), "/")
	mux.HandleFunc("GET "+metadataPath, serveDoc)
	if p != "" {
		mux.HandleFunc("GET "+metadataPath+p, serveDoc)
	}
	mux.HandleFunc("GET "+JWKSPath, h.jwks)
	if !h.Supported.OpenID {
		return
	}
	mux.HandleFunc("GET "+discoveryPath, serveDoc)
	if p != "" {
		mux.HandleFunc("GET "+p+discoveryPath, serveDoc)
	}
	mux.HandleFunc("GET "+UserInfoPath, h.userinfo)
	mux.HandleFunc("POST "+UserInfoPath, h.userinfo)
	mux.HandleFunc("OPTIONS "+UserInfoPath, preflight)
}

// jwks writes the public JWK Set (RFC 7517 §5). The keys package builds it
// from public keys only; this filter is the second line: a key that is not
// an asymmetric public key, or that lacks kid, use or alg, is never sent
// (catalogue JW-01).
func (h *Handler) jwks(w http.ResponseWriter, r *http.Request) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range h.Keys.JWKS().Keys {
		if !k.IsPublic() || !k.Valid() || k.KeyID == "" || k.Use != "sig" || k.Algorithm == "" {
			h.log().ErrorContext(r.Context(), "oidc: left a key that is not a complete public signing key out of the JWKS", "kid", k.KeyID)
			continue
		}
		set.Keys = append(set.Keys, k)
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(set); err != nil {
		h.log().ErrorContext(r.Context(), "oidc: encode the JWKS", "err", err)
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "cannot encode the key set", http.StatusInternalServerError)
		return
	}
	writePublic(w, buf.Bytes())
}

// writePublic sends a public JSON document with the headers of catalogue
// §3.1: cacheable by anyone, readable from any origin (it holds nothing
// secret, and browser-based clients fetch it), and never with a cookie.
func writePublic(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", cacheControl)
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Set-Cookie")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}
