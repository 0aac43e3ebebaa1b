package outbound

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// StatusError reports a response whose status the caller did not expect.
type StatusError struct {
	Code int // the HTTP status code received
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("outbound: unexpected HTTP status %d", e.Code)
}

// PostForm POSTs form, application/x-www-form-urlencoded, to rawURL and
// returns the status and the body (at most MaxBodyBytes). Any status is
// returned without error, a 3xx included, because what counts as success is
// the protocol's to say: OIDC Back-Channel Logout 1.0 §2.8, "If the logout
// succeeded, the RP MUST respond with HTTP 200 OK".
func (c *Client) PostForm(ctx context.Context, rawURL string, form url.Values) (status int, body []byte, err error) {
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, fmt.Errorf("outbound: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(ctx, req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, body, nil
}

// GetJSON GETs rawURL and decodes the JSON body (at most MaxBodyBytes) into
// v. Any status other than 200 is a *StatusError, a redirect included: a
// jwks_uri or sector_identifier_uri that moved must be registered again.
func (c *Client) GetJSON(ctx context.Context, rawURL string, v any) error {
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("outbound: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &StatusError{Code: resp.StatusCode}
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("outbound: decoding JSON from %s: %w", req.URL.Redacted(), err)
	}
	return nil
}
