package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/valetauth/valet"
)

// clients is the valet.ClientStore. The ID, secret digest and times are
// columns; the rest of the registration is one JSON column, clientMetadata,
// so that a new metadata field needs no migration.
type clients struct{ db *DB }

// clientMetadata mirrors every field of valet.Client that is not a column.
// Lists are never omitted, so that nil and empty stay distinct; a field
// added later (resources, post_logout_redirect_uris) is absent from older
// rows and reads as nil.
type clientMetadata struct {
	Name                    string   `json:"name,omitempty"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	Scopes                  []string `json:"scopes"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	AccessTokenFormat       string   `json:"access_token_format,omitempty"`
	Resources               []string `json:"resources"`
	// OpenID Connect.
	PostLogoutRedirectURIs           []string `json:"post_logout_redirect_uris"`
	BackchannelLogoutURI             string   `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool     `json:"backchannel_logout_session_required,omitempty"`
	IDTokenSignedResponseAlg         string   `json:"id_token_signed_response_alg,omitempty"`
	SubjectType                      string   `json:"subject_type,omitempty"`

	ClientURI string `json:"client_uri,omitempty"`
	LogoURI   string `json:"logo_uri,omitempty"`
	PolicyURI string `json:"policy_uri,omitempty"`
	TosURI    string `json:"tos_uri,omitempty"`
}

func clientMetadataOf(c *valet.Client) string {
	b, _ := json.Marshal(clientMetadata{ // strings, bools and string lists always marshal
		Name:                    c.Name,
		RedirectURIs:            c.RedirectURIs,
		GrantTypes:              c.GrantTypes,
		ResponseTypes:           c.ResponseTypes,
		Scopes:                  c.Scopes,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		AccessTokenFormat:       c.AccessTokenFormat,
		Resources:               c.Resources,

		PostLogoutRedirectURIs:           c.PostLogoutRedirectURIs,
		BackchannelLogoutURI:             c.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired,
		IDTokenSignedResponseAlg:         c.IDTokenSignedResponseAlg,
		SubjectType:                      c.SubjectType,

		ClientURI: c.ClientURI,
		LogoURI:   c.LogoURI,
		PolicyURI: c.PolicyURI,
		TosURI:    c.TosURI,
	})
	return string(b)
}

const clientColumns = "id, secret_digest, metadata, created_at, updated_at"

func scanClient(r row) (*valet.Client, error) {
	var (
		c    valet.Client
		meta string
		m    clientMetadata
	)
	if err := r.Scan(&c.ID, &c.SecretDigest, &meta, at(&c.CreatedAt), at(&c.UpdatedAt)); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(meta), &m); err != nil {
		return nil, fmt.Errorf("client %q has unreadable metadata: %w", c.ID, err)
	}
	c.Name = m.Name
	c.RedirectURIs = m.RedirectURIs
	c.GrantTypes = m.GrantTypes
	c.ResponseTypes = m.ResponseTypes
	c.Scopes = m.Scopes
	c.TokenEndpointAuthMethod = m.TokenEndpointAuthMethod
	c.AccessTokenFormat = m.AccessTokenFormat
	c.Resources = m.Resources
	c.PostLogoutRedirectURIs = m.PostLogoutRedirectURIs
	c.BackchannelLogoutURI = m.BackchannelLogoutURI
	c.BackchannelLogoutSessionRequired = m.BackchannelLogoutSessionRequired
	c.IDTokenSignedResponseAlg = m.IDTokenSignedResponseAlg
	c.SubjectType = m.SubjectType
	c.ClientURI = m.ClientURI
	c.LogoURI = m.LogoURI
	c.PolicyURI = m.PolicyURI
	c.TosURI = m.TosURI
	return &c, nil
}

func (s *clients) Create(ctx context.Context, c *valet.Client) error {
	_, err := s.db.exec(ctx, s.db.ws, `INSERT INTO clients (`+clientColumns+`) VALUES (?, ?, ?, ?, ?)`,
		c.ID, c.SecretDigest, clientMetadataOf(c), micros(c.CreatedAt), micros(c.UpdatedAt))
	return wrap("create client", err)
}

func (s *clients) Get(ctx context.Context, id string) (*valet.Client, error) {
	c, err := scanClient(s.db.queryRow(ctx, s.db.rs, `SELECT `+clientColumns+` FROM clients WHERE id = ?`, id))
	return c, wrap("get client", err)
}

func (s *clients) List(ctx context.Context) ([]*valet.Client, error) {
	rows, err := s.db.query(ctx, s.db.rs, `SELECT `+clientColumns+` FROM clients ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list clients", err)
	}
	defer rows.Close()
	var out []*valet.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, wrap("list clients", err)
		}
		out = append(out, c)
	}
	return out, wrap("list clients", rows.Err())
}

func (s *clients) Update(ctx context.Context, id string, fn func(*valet.Client) error) error {
	const op = "update client"
	return s.db.tx(ctx, op, func(tx *sql.Tx) error {
		c, err := scanClient(tx.QueryRowContext(ctx, s.db.q(`SELECT `+clientColumns+` FROM clients WHERE id = ?`+s.db.forUpdate), id))
		if err != nil {
			return wrap(op, err)
		}
		if err := fn(c); err != nil {
			return err
		}
		if c.ID != id {
			return errors.New("update client: the client ID cannot change")
		}
		_, err = tx.ExecContext(ctx, s.db.q(`UPDATE clients SET secret_digest = ?, metadata = ?, created_at = ?, updated_at = ? WHERE id = ?`),
			c.SecretDigest, clientMetadataOf(c), micros(c.CreatedAt), micros(c.UpdatedAt), id)
		return wrap(op, err)
	})
}

// Delete removes the client; the database cascades to its consents, codes
// and refresh tokens.
func (s *clients) Delete(ctx context.Context, id string) error {
	if s.db.accessQ != nil {
		// The client's access tokens still queued go into the table
		// first, where the cascade removes them.
		done, err := s.db.accessQ.forget(ctx, id)
		if err != nil {
			return wrap("delete client", err)
		}
		n, err := affected(s.db.exec(ctx, s.db.ws, `DELETE FROM clients WHERE id = ?`, id))
		done(err == nil && n > 0)
		return s.deleted(n, err)
	}
	return s.deleted(affected(s.db.exec(ctx, s.db.ws, `DELETE FROM clients WHERE id = ?`, id)))
}

func (s *clients) deleted(n int, err error) error {
	if err == nil && n == 0 {
		err = sql.ErrNoRows
	}
	return wrap("delete client", err)
}
