package admin

import (
	"net/http"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
)

// clientSecretPrefix marks Valet client secrets, so that secret scanners
// recognise a leaked one.
const clientSecretPrefix = "vcs_"

// createClient registers a client (RFC 7591 §3.1). The server chooses the
// client_id, RFC 9700 §4.15: the authorization server "SHOULD NOT allow
// clients to influence their client_id", so a client_id or client_secret in
// the body is ignored.
func (h *Handler) createClient(w http.ResponseWriter, r *http.Request) {
	var in clientInput
	if err := decodeBody(w, r, oauth.InvalidClientMetadata, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := newClient(&in.ClientMetadata)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c.ID = newID()
	c.CreatedAt = h.now()
	c.UpdatedAt = c.CreatedAt
	var clientSecret string
	if !c.Public() {
		// 256 random bits, server-generated; only its keyed digest is stored.
		clientSecret = secret.Token(clientSecretPrefix)
		c.SecretDigest = h.Digester.Digest(secret.PurposeClientSecret, clientSecret)
	}
	if err := h.Clients.Create(r.Context(), c); err != nil {
		h.fail(w, r, storeError(err, "client", c.ID))
		return
	}
	h.log().InfoContext(r.Context(), "admin: client registered", "client_id", c.ID, "public", c.Public(), "grant_types", c.GrantTypes)
	out := ClientRegistration{ClientMetadata: viewClient(c)}
	if clientSecret != "" {
		out.ClientSecret = clientSecret
		out.ClientSecretExpiresAt = new(int64(0)) // RFC 7591 §3.2.1: 0 means it does not expire
	}
	oauth.WriteJSONValue(w, http.StatusCreated, out)
}

func (h *Handler) listClients(w http.ResponseWriter, r *http.Request) {
	cs, err := h.Clients.List(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := ClientList{Clients: make([]ClientMetadata, 0, len(cs))}
	for _, c := range cs {
		out.Clients = append(out.Clients, viewClient(c))
	}
	oauth.WriteJSONValue(w, http.StatusOK, out)
}

func (h *Handler) getClient(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, err := h.Clients.Get(r.Context(), id)
	if err != nil {
		h.fail(w, r, storeError(err, "client", id))
		return
	}
	oauth.WriteJSONValue(w, http.StatusOK, viewClient(c))
}

// updateClient replaces a client's metadata, validated as on create. As in
// RFC 7592 §2.2 the body may repeat the client_id but not change it, and it
// cannot set a secret: the server alone issues secrets.
func (h *Handler) updateClient(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var in clientInput
	if err := decodeBody(w, r, oauth.InvalidClientMetadata, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if in.ClientID != "" && in.ClientID != id {
		h.fail(w, r, oauth.Errorf(oauth.InvalidClientMetadata, "client_id: %q does not match the client being updated, %q; a client's id cannot change", in.ClientID, id))
		return
	}
	if in.ClientSecret != nil || in.ClientSecretExpiresAt != nil {
		h.fail(w, r, oauth.Errorf(oauth.InvalidClientMetadata, "client_secret: the server issues client secrets; leave client_secret and client_secret_expires_at out of an update"))
		return
	}
	next, err := newClient(&in.ClientMetadata)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var updated *valet.Client
	err = h.Clients.Update(r.Context(), id, func(c *valet.Client) error {
		next.ID, next.CreatedAt, next.UpdatedAt = c.ID, c.CreatedAt, h.now()
		switch {
		case next.Public():
			next.SecretDigest = "" // a public client has no secret
		case c.SecretDigest == "":
			return oauth.Errorf(oauth.InvalidClientMetadata, "token_endpoint_auth_method: this client was registered as public and has no secret to authenticate with %q; register a new confidential client instead", next.TokenEndpointAuthMethod)
		default:
			next.SecretDigest = c.SecretDigest
		}
		*c = *next
		updated = c
		return nil
	})
	if err != nil {
		h.fail(w, r, storeError(err, "client", id))
		return
	}
	h.log().InfoContext(r.Context(), "admin: client updated", "client_id", id, "public", updated.Public(), "grant_types", updated.GrantTypes)
	oauth.WriteJSONValue(w, http.StatusOK, viewClient(updated))
}

func (h *Handler) deleteClient(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := h.Clients.Delete(r.Context(), id); err != nil {
		h.fail(w, r, storeError(err, "client", id))
		return
	}
	h.log().InfoContext(r.Context(), "admin: client deleted", "client_id", id)
	w.WriteHeader(http.StatusNoContent)
}
