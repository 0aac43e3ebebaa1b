package admin

import (
	"context"
	"net/http"

	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/token"
)

// Introspector says whether a token Valet issued still works;
// *token.Introspector implements it. The admin API uses the same one as
// POST /introspect, so an operator sees exactly what a resource server sees.
type Introspector interface {
	Introspect(ctx context.Context, raw string) (*token.Introspection, error)
}

// introspect answers POST /admin/introspect with the RFC 7662 §2.2
// response for the token in the body. The operator's admin token stands in
// for the client authentication POST /introspect requires. The token is
// never logged; a storage failure is a server_error, never an inactive
// token.
func (h *Handler) introspect(w http.ResponseWriter, r *http.Request) {
	var in IntrospectInput
	if err := decodeBody(w, r, oauth.InvalidRequest, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if in.Token == "" {
		h.fail(w, r, oauth.Errorf(oauth.InvalidRequest, "token: send the token to introspect, as in {\"token\": \"...\"}"))
		return
	}
	out, err := h.Introspector.Introspect(r.Context(), in.Token)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	oauth.WriteJSONValue(w, http.StatusOK, out)
}
