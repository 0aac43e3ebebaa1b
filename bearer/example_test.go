package bearer_test

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/valetauth/valet/bearer"
)

// The Mail API protects GET /contacts: only a token from Valet, issued for
// Mail, with the scope contacts.read, gets the list. A client that comes
// without a token is told where to find out how to get one.
func Example() {
	// What Mail publishes about itself (RFC 9728).
	md := bearer.ResourceMetadata{
		Resource:             "https://mail.example",
		AuthorizationServers: []string{"https://valet.example"},
		ScopesSupported:      []string{"contacts.read"},
		ResourceName:         "Mail",
	}
	v, err := bearer.NewVerifier(bearer.Config{
		Issuer:              "https://valet.example", // who issues the tokens
		Audience:            "https://mail.example",  // who they must be for
		ResourceMetadataURL: md.URL(),
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("GET /contacts", v.Require("contacts.read")(http.HandlerFunc(listContacts)))
	mux.Handle("GET "+bearer.ResourceMetadataPath, md.Handler())
	// In a real server: http.ListenAndServe(":8443", mux)

	// A request without a token:
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "https://mail.example/contacts", nil))
	fmt.Println(rec.Code)
	fmt.Println(rec.Header().Get("WWW-Authenticate"))
	// Output:
	// 401
	// Bearer realm="https://mail.example", resource_metadata="https://mail.example/.well-known/oauth-protected-resource"
}

// listContacts runs only for a verified token carrying contacts.read.
func listContacts(w http.ResponseWriter, r *http.Request) {
	tok, _ := bearer.FromContext(r.Context())
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"owner":    tok.Subject,  // the person whose contacts these are
		"client":   tok.ClientID, // the application asking, such as FriendFinder
		"contacts": []string{"bob@mail.example", "carol@mail.example"},
	})
}

// A resource server that receives opaque tokens (or wants revocations to
// take effect within seconds) registers itself as a client of the
// authorization server and gives its credentials for introspection.
func ExampleConfig_introspection() {
	v, err := bearer.NewVerifier(bearer.Config{
		Issuer:       "https://valet.example",
		Audience:     "https://mail.example",
		ClientID:     "mail-api",
		ClientSecret: "vcs_…", // from `valet client create`; read it from your secret store
		// Also ask about JWTs, so a revoked one stops within the cache TTL:
		IntrospectJWTs:        true,
		IntrospectionCacheTTL: 10 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("GET /contacts", v.Require("contacts.read")(http.HandlerFunc(listContacts)))
}
