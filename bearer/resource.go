package bearer

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ResourceMetadataPath is the well-known path of the protected resource
// metadata (RFC 9728 §3) of a resource whose identifier has no path.
const ResourceMetadataPath = "/.well-known/oauth-protected-resource"

// ResourceMetadata is the RFC 9728 protected resource metadata: it tells a
// client which authorization server issues tokens for this resource and
// which scopes it knows. Serve it with Handler at URL's path, and put URL in
// Config.ResourceMetadataURL so that 401 challenges point to it.
type ResourceMetadata struct {
	// Resource is this resource's identifier, an https URL without a
	// fragment; usually the same as Config.Audience (RFC 9728 §2).
	Resource string `json:"resource"`
	// AuthorizationServers are the issuer identifiers of the authorization
	// servers that issue tokens for this resource.
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	// ScopesSupported are the scopes this resource understands.
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// BearerMethodsSupported are the ways a token may be sent; nil means
	// ["header"], the only one Require accepts.
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	// ResourceName is a name for people, such as "Mail contacts API".
	ResourceName string `json:"resource_name,omitempty"`
	// ResourceDocumentation is a page for developers using this resource.
	ResourceDocumentation string `json:"resource_documentation,omitempty"`
	// ResourcePolicyURI and ResourceTOSURI link the resource's policy and
	// terms of service.
	ResourcePolicyURI string `json:"resource_policy_uri,omitempty"`
	ResourceTOSURI    string `json:"resource_tos_uri,omitempty"`
}

// URL is where RFC 9728 §3.1 puts this document: the well-known path goes
// between the host and the path of Resource, so "https://mail.example/api"
// has its metadata at "https://mail.example/.well-known/oauth-protected-resource/api".
func (m ResourceMetadata) URL() string {
	u, err := url.Parse(m.Resource)
	if err != nil {
		return ""
	}
	u.Path = ResourceMetadataPath + strings.TrimSuffix(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return u.String()
}

// Handler serves the document as JSON with caching headers. It panics if
// Resource is not an absolute http(s) URL without a fragment (RFC 9728 §2),
// because a client must refuse such a document anyway (RFC 9728 §3.3).
func (m ResourceMetadata) Handler() http.Handler {
	u, err := url.Parse(m.Resource)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || strings.Contains(m.Resource, "#") {
		panic(fmt.Sprintf("bearer: ResourceMetadata.Resource %q must be an absolute http(s) URL without a fragment", m.Resource))
	}
	if m.BearerMethodsSupported == nil {
		m.BearerMethodsSupported = []string{"header"}
	}
	body, err := json.Marshal(m)
	if err != nil {
		panic(err) // only strings and string slices: cannot happen
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=3600")
		// A public document: let browser-based clients read it too.
		h.Set("Access-Control-Allow-Origin", "*")
		w.Write(body)
	})
}
