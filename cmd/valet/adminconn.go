package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/valetauth/valet/internal/admin"
)

// adminConn is the client and user commands' connection to a running
// server's admin API, and the knowledge needed to explain its failures.
type adminConn struct {
	*admin.Client
	tokenFrom string // where the token came from, for error messages
}

// connectAdmin builds the admin API client from --admin-url and the admin
// token: VALET_ADMIN_TOKEN, else the admin-token file in --data, the one
// `valet serve` generates on first start.
func connectAdmin(cmd *cobra.Command) (*adminConn, error) {
	baseURL, err := cmd.Flags().GetString("admin-url")
	if err != nil {
		return nil, err
	}
	baseURL = strings.TrimRight(baseURL, "/")
	if !strings.HasPrefix(baseURL, "http://") && !strings.HasPrefix(baseURL, "https://") {
		return nil, fmt.Errorf("--admin-url %q must start with http:// or https://, as in http://127.0.0.1:8081", baseURL)
	}
	c := &adminConn{Client: &admin.Client{BaseURL: baseURL, HTTP: &http.Client{Timeout: 30 * time.Second}}}
	if t := strings.TrimSpace(os.Getenv("VALET_ADMIN_TOKEN")); t != "" {
		c.Token, c.tokenFrom = t, "VALET_ADMIN_TOKEN"
		return c, nil
	}
	data, err := cmd.Flags().GetString("data")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(data, "admin-token")
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("no admin token: set VALET_ADMIN_TOKEN, or run this on the server's machine with --data pointing at its data directory (%s not found)", path)
	case err != nil:
		return nil, fmt.Errorf("no admin token: cannot read %s (%v); run this as the user that runs `valet serve`, or set VALET_ADMIN_TOKEN", path, err)
	}
	c.Token, c.tokenFrom = strings.TrimSpace(string(b)), path
	if c.Token == "" {
		return nil, fmt.Errorf("no admin token: %s is empty; set VALET_ADMIN_TOKEN, or restart `valet serve` to generate one", path)
	}
	return c, nil
}

// explain turns a failed admin API call into an error that says what to do.
func (c *adminConn) explain(err error) error {
	if err == nil {
		return nil
	}
	if apiErr, ok := errors.AsType[*admin.APIError](err); ok {
		if apiErr.Status == http.StatusUnauthorized {
			return fmt.Errorf("the admin API refused the token: the token from %s is not the admin token of the server at %s; use the admin-token file from the server's data directory, or the server's VALET_ADMIN_TOKEN", c.tokenFrom, c.BaseURL)
		}
		return apiErr
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("cannot reach the admin API at %s: is `valet serve` running? set --admin-url or VALET_ADMIN_URL", c.BaseURL)
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return fmt.Errorf("cannot reach the admin API at %s (%v): is `valet serve` running? set --admin-url or VALET_ADMIN_URL", c.BaseURL, err)
	}
	return err
}
