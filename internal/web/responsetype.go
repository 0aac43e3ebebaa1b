package web

import (
	"strings"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
)

// responseType says what a response_type value returns from the
// authorization endpoint.
type responseType struct{ code, idToken, token bool }

// frontChannel reports whether the type returns a token through the
// browser, which must never be in a query string.
func (t responseType) frontChannel() bool { return t.idToken || t.token }

// responseTypes are the response types Valet serves, keyed by the canonical
// value (valet.CanonicalResponseType): "code" (RFC 6749 §4.1), "token"
// (§4.2), and those of OAuth 2.0 Multiple Response Type Encoding Practices
// §3 and §5 that OpenID Connect Core uses for its implicit (§3.2) and hybrid
// (§3.3) flows.
var responseTypes = map[string]responseType{
	"code":                {code: true},
	"token":               {token: true},
	"id_token":            {idToken: true},
	"id_token token":      {idToken: true, token: true},
	"code id_token":       {code: true, idToken: true},
	"code token":          {code: true, token: true},
	"code id_token token": {code: true, idToken: true, token: true},
}

// responseMode is how the response parameters reach the client.
type responseMode int

const (
	// modeQuery adds them to the query of the redirect URI (RFC 6749
	// §4.1.2).
	modeQuery responseMode = iota
	// modeFragment puts them in the fragment (RFC 6749 §4.2.2), where
	// the browser keeps them from servers and logs.
	modeFragment
	// modeFormPost POSTs them to the redirect URI from an auto-submitting
	// page (OAuth 2.0 Form Post Response Mode §2).
	modeFormPost
)

// checkResponseType reads response_type and response_mode into a, in that
// order, or returns the error for them.
func (h *Handler) checkResponseType(a *authorization, rt, mode string) error {
	// RFC 6749 §4.1.1: response_type "REQUIRED"; catalogue AZ-01a pins
	// invalid_request for a missing one.
	if rt == "" {
		return oauth.Errorf(oauth.InvalidRequest, "response_type required")
	}
	a.ResponseType = valet.CanonicalResponseType(rt)
	kind, known := responseTypes[a.ResponseType]
	switch {
	case !known || h.ImplicitDisabled && kind != responseTypes["code"]:
		// RFC 6749 §4.1.2.1 and §4.2.2.1: "The authorization server does
		// not support obtaining an authorization code [an access token]
		// using this method." Pin P16: the server-wide switch turns off
		// every type that returns a token through the browser, even for a
		// client registered for it.
		return oauth.Errorf(oauth.UnsupportedResponseType, "this server does not support that response_type")
	case !a.client.AllowsResponseType(a.ResponseType):
		// Pin P16: such types are off for every client that did not
		// register them; RFC 6749 §4.2.2.1: unauthorized_client, "The
		// client is not authorized to request an access token using this
		// method."
		return oauth.Errorf(oauth.UnauthorizedClient, "the client is not registered for response_type %s", a.ResponseType)
	}
	a.kind = kind
	m, err := responseModeOf(kind, mode, a.redirect)
	a.mode = m
	if err != nil {
		return err
	}
	a.ResponseMode = mode
	return nil
}

// responseModeOf returns the mode that response_mode asks for with a
// response type of kind, or the type's default mode and an error when the
// mode cannot be served.
func responseModeOf(kind responseType, mode, redirect string) (responseMode, error) {
	// OAuth 2.0 Multiple Response Type Encoding Practices §5: "the default
	// Response Mode for this Response Type is the fragment encoding" for
	// every type but code.
	def := modeQuery
	if kind.frontChannel() {
		def = modeFragment
	}
	switch mode {
	case "":
		return def, nil
	case "query":
		// Ibid. §2.1: "the query encoding MUST NOT be used" for a type that
		// returns a token (catalogue AZ-03a); the error itself goes in the
		// fragment.
		if kind.frontChannel() {
			return def, oauth.Errorf(oauth.InvalidRequest, "response_mode=query cannot carry tokens; use fragment or form_post")
		}
		return modeQuery, nil
	case "fragment":
		return modeFragment, nil
	case "form_post":
		// A page can post only to a web address; an app's custom scheme
		// takes its response in the query or the fragment.
		if !isWebURL(redirect) {
			return def, oauth.Errorf(oauth.InvalidRequest, "response_mode=form_post needs an http(s) redirect_uri")
		}
		return modeFormPost, nil
	default:
		return def, oauth.Errorf(oauth.InvalidRequest, "response_mode must be query, fragment or form_post")
	}
}

// earlyMode is the mode for errors found before response_type and
// response_mode are checked: what they ask for when that can be served, else
// the fragment whenever any token was asked for, else the query.
func earlyMode(responseTypeValues, modeValues []string, redirect string) responseMode {
	var kind responseType
	for _, s := range responseTypeValues {
		for _, t := range strings.Fields(s) {
			kind.idToken = kind.idToken || t == "id_token"
			kind.token = kind.token || t == "token"
		}
	}
	mode := ""
	if len(modeValues) == 1 {
		mode = modeValues[0]
	}
	m, _ := responseModeOf(kind, mode, redirect)
	return m
}

// isWebURL reports whether u is an http or https URL.
func isWebURL(u string) bool {
	return strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")
}
