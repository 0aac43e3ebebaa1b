package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/valetauth/valet/internal/token"
)

// Client calls the admin API; the valet CLI is built on it. Each method
// returns the decoded answer and the raw JSON body, so that a caller can
// print exactly what the server sent.
type Client struct {
	BaseURL string       // such as http://127.0.0.1:8081
	Token   string       // the admin token
	HTTP    *http.Client // nil means http.DefaultClient
}

// APIError is an error answer from the admin API.
type APIError struct {
	Status      int    // HTTP status
	Code        string // OAuth error code, such as not_found or invalid_redirect_uri
	Description string // what went wrong and what to do about it
}

// Error is the description followed by the code, as a person reads it.
func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("admin API: %d %s: %s", e.Status, http.StatusText(e.Status), e.Description)
	}
	if e.Description == "" {
		return e.Code
	}
	return e.Description + " (" + e.Code + ")"
}

// CreateClient registers a client and returns it with its secret, which no
// other call ever returns again.
func (c *Client) CreateClient(ctx context.Context, m ClientMetadata) (*ClientRegistration, []byte, error) {
	return call[ClientRegistration](ctx, c, http.MethodPost, "/admin/clients", m, http.StatusCreated)
}

// ListClients returns every registered client, oldest first.
func (c *Client) ListClients(ctx context.Context) ([]ClientMetadata, []byte, error) {
	l, raw, err := call[ClientList](ctx, c, http.MethodGet, "/admin/clients", nil, http.StatusOK)
	if err != nil {
		return nil, raw, err
	}
	return l.Clients, raw, nil
}

// GetClient returns the client with the given ID.
func (c *Client) GetClient(ctx context.Context, id string) (*ClientMetadata, []byte, error) {
	return call[ClientMetadata](ctx, c, http.MethodGet, "/admin/clients/"+url.PathEscape(id), nil, http.StatusOK)
}

// UpdateClient replaces the metadata of the client with the given ID; its
// secret stays as it was.
func (c *Client) UpdateClient(ctx context.Context, id string, m ClientMetadata) (*ClientMetadata, []byte, error) {
	return call[ClientMetadata](ctx, c, http.MethodPut, "/admin/clients/"+url.PathEscape(id), m, http.StatusOK)
}

// DeleteClient removes the client with the given ID.
func (c *Client) DeleteClient(ctx context.Context, id string) error {
	_, _, err := call[struct{}](ctx, c, http.MethodDelete, "/admin/clients/"+url.PathEscape(id), nil, http.StatusNoContent)
	return err
}

// CreateUser adds a user.
func (c *Client) CreateUser(ctx context.Context, in UserInput) (*UserView, []byte, error) {
	return call[UserView](ctx, c, http.MethodPost, "/admin/users", in, http.StatusCreated)
}

// ListUsers returns every user, oldest first.
func (c *Client) ListUsers(ctx context.Context) ([]UserView, []byte, error) {
	l, raw, err := call[UserList](ctx, c, http.MethodGet, "/admin/users", nil, http.StatusOK)
	if err != nil {
		return nil, raw, err
	}
	return l.Users, raw, nil
}

// GetUser returns the user with the given ID.
func (c *Client) GetUser(ctx context.Context, id string) (*UserView, []byte, error) {
	return call[UserView](ctx, c, http.MethodGet, "/admin/users/"+url.PathEscape(id), nil, http.StatusOK)
}

// FindUser returns the user named username, or an *APIError with status 404
// and code not_found when there is none. The raw JSON is the user's object.
func (c *Client) FindUser(ctx context.Context, username string) (*UserView, []byte, error) {
	l, raw, err := call[UserList](ctx, c, http.MethodGet, "/admin/users?username="+url.QueryEscape(username), nil, http.StatusOK)
	if err != nil {
		return nil, raw, err
	}
	if len(l.Users) == 0 {
		return nil, nil, &APIError{Status: http.StatusNotFound, Code: "not_found", Description: fmt.Sprintf("no user named %q", username)}
	}
	u := l.Users[0]
	raw, err = json.Marshal(u)
	return &u, raw, err
}

// UpdateUser changes the fields of the user that are set in u.
func (c *Client) UpdateUser(ctx context.Context, id string, u UserUpdate) (*UserView, []byte, error) {
	return call[UserView](ctx, c, http.MethodPut, "/admin/users/"+url.PathEscape(id), u, http.StatusOK)
}

// DeleteUser removes the user with the given ID.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	_, _, err := call[struct{}](ctx, c, http.MethodDelete, "/admin/users/"+url.PathEscape(id), nil, http.StatusNoContent)
	return err
}

// ListKeys returns every signing key, newest first, without key material.
func (c *Client) ListKeys(ctx context.Context) ([]KeyView, []byte, error) {
	l, raw, err := call[KeyList](ctx, c, http.MethodGet, "/admin/keys", nil, http.StatusOK)
	if err != nil {
		return nil, raw, err
	}
	return l.Keys, raw, nil
}

// RotateKeys starts a key rotation, or with in.Now replaces the keys at
// once, and returns the algorithms rotated and the keys afterwards.
func (c *Client) RotateKeys(ctx context.Context, in KeyRotateInput) (*KeyRotation, []byte, error) {
	return call[KeyRotation](ctx, c, http.MethodPost, "/admin/keys/rotate", in, http.StatusOK)
}

// Introspect returns the RFC 7662 introspection of tok, as the server's
// POST /introspect would answer a resource server.
func (c *Client) Introspect(ctx context.Context, tok string) (*token.Introspection, []byte, error) {
	return call[token.Introspection](ctx, c, http.MethodPost, "/admin/introspect", IntrospectInput{Token: tok}, http.StatusOK)
}

// call sends body (when not nil) as JSON and decodes a want-status answer
// into a T. Transport errors come back as they are, for the caller to
// explain; answers with another status become an *APIError.
func call[T any](ctx context.Context, c *Client, method, path string, body any, want int) (*T, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the admin API's answer: %w", err)
	}
	if resp.StatusCode != want {
		return nil, raw, apiError(resp.StatusCode, raw)
	}
	var v T
	if want != http.StatusNoContent {
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, raw, fmt.Errorf("the admin API at %s answered with something that is not the expected JSON: %w", c.BaseURL, err)
		}
	}
	return &v, bytes.TrimRight(raw, "\n"), nil
}

// apiError reads an OAuth-shaped error body; anything else (a proxy's HTML
// page, say) keeps only the status and a short, printable excerpt.
func apiError(status int, raw []byte) *APIError {
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error != "" {
		return &APIError{Status: status, Code: body.Error, Description: body.Description}
	}
	excerpt := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, string(raw))
	if len(excerpt) > 200 {
		excerpt = excerpt[:200] + "…"
	}
	return &APIError{Status: status, Description: strings.TrimSpace(excerpt)}
}
