package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/valetauth/valet/internal/admin"
	"golang.org/x/term"
)

// maxPassword matches the server's limit; longer passwords only make hashing
// a denial-of-service lever.
const maxPassword = 1024

func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Add and manage the people who sign in, through the admin API",
		Long: `Add and manage the people who sign in at Valet, through the running server's
admin API (--admin-url, with the token from VALET_ADMIN_TOKEN or the
admin-token file in --data). Users are named by their username.`,
	}
	cmd.AddCommand(newUserAddCmd(), newUserListCmd(), newUserDeleteCmd(), newUserPasswdCmd())
	return cmd
}

func newUserAddCmd() *cobra.Command {
	var (
		in        admin.UserInput
		fromStdin bool
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "add --username USERNAME [flags]",
		Short: "Add a user; asks for the password unless --password-stdin",
		Example: `  valet user add --username ana --email ana@example.com --name "Ana Lima"
  printf '%s\n' "$PASSWORD" | valet user add --username ana --password-stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := connectAdmin(cmd)
			if err != nil {
				return err
			}
			if in.Password, err = readPassword(cmd, fromStdin, in.Username); err != nil {
				return err
			}
			u, raw, err := conn.CreateUser(cmd.Context(), in)
			if err != nil {
				return conn.explain(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				_, err := fmt.Fprintf(out, "%s\n", raw)
				return err
			}
			fmt.Fprintf(out, "Added user %s (id %s).\n", u.Username, u.ID)
			if !u.HasPassword {
				fmt.Fprintf(out, "%s has no password and cannot sign in with one; set it with: valet user passwd %s\n", u.Username, u.Username)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.Username, "username", "", "the name the user signs in with (required)")
	f.StringVar(&in.Email, "email", "", "e-mail address")
	f.StringVar(&in.Name, "name", "", "full name, as shown on pages")
	f.BoolVar(&fromStdin, "password-stdin", false, "read the password from standard input (up to a newline or the end) instead of asking")
	f.BoolVar(&asJSON, "json", false, "print the admin API's JSON answer")
	cmd.MarkFlagRequired("username")
	return cmd
}

func newUserListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := connectAdmin(cmd)
			if err != nil {
				return err
			}
			users, raw, err := conn.ListUsers(cmd.Context())
			if err != nil {
				return conn.explain(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				_, err := fmt.Fprintf(out, "%s\n", raw)
				return err
			}
			if len(users) == 0 {
				fmt.Fprintln(out, "No users yet. Add one with: valet user add --username NAME")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USERNAME\tID\tEMAIL\tNAME\tPASSWORD\tCREATED")
			for _, u := range users {
				pw := "no"
				if u.HasPassword {
					pw = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, u.ID, orDash(u.Email), orDash(u.Name), pw,
					u.CreatedAt.Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON answer")
	return cmd
}

func newUserDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete USERNAME",
		Short: "Delete a user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			conn, err := connectAdmin(cmd)
			if err != nil {
				return err
			}
			u, err := findUser(cmd.Context(), conn, args[0])
			if err != nil {
				return err
			}
			if err := conn.DeleteUser(cmd.Context(), u.ID); err != nil {
				return conn.explain(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted user %s (id %s).\n", u.Username, u.ID)
			return nil
		},
	}
}

func newUserPasswdCmd() *cobra.Command {
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   "passwd USERNAME",
		Short: "Set a user's password; asks for it unless --password-stdin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			conn, err := connectAdmin(cmd)
			if err != nil {
				return err
			}
			u, err := findUser(cmd.Context(), conn, args[0])
			if err != nil {
				return err
			}
			pw, err := readPassword(cmd, fromStdin, u.Username)
			if err != nil {
				return err
			}
			if _, _, err := conn.UpdateUser(cmd.Context(), u.ID, admin.UserUpdate{Password: &pw}); err != nil {
				return conn.explain(err)
			}
			if pw == "" {
				fmt.Fprintf(cmd.OutOrStdout(), "Removed the password of %s: they cannot sign in with a password now.\n", u.Username)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "Changed the password of %s.\n", u.Username)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from standard input (up to a newline or the end) instead of asking")
	return cmd
}

// findUser resolves a username to its user.
func findUser(ctx context.Context, conn *adminConn, username string) (*admin.UserView, error) {
	u, _, err := conn.FindUser(ctx, username)
	if err != nil {
		if apiErr, ok := errors.AsType[*admin.APIError](err); ok && apiErr.Code == "not_found" {
			return nil, fmt.Errorf("no user named %q; see the usernames with: valet user list", username)
		}
		return nil, conn.explain(err)
	}
	return u, nil
}

// readPassword reads the password from standard input with --password-stdin
// (its first line), else asks twice on the terminal without echo.
func readPassword(cmd *cobra.Command, fromStdin bool, username string) (string, error) {
	in := cmd.InOrStdin()
	if fromStdin {
		b, err := io.ReadAll(io.LimitReader(in, 4*maxPassword))
		if err != nil {
			return "", fmt.Errorf("read the password from standard input: %w", err)
		}
		line, _, _ := bytes.Cut(b, []byte("\n"))
		pw := strings.TrimSuffix(string(line), "\r")
		if len(pw) > maxPassword {
			return "", fmt.Errorf("the password is longer than %d bytes", maxPassword)
		}
		return pw, nil
	}
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("standard input is not a terminal, so the password cannot be asked for: pass it on standard input with --password-stdin")
	}
	prompt := cmd.ErrOrStderr()
	ask := func(label string) (string, error) {
		fmt.Fprint(prompt, label)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		return string(b), err
	}
	pw, err := ask("Password for " + username + ": ")
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	again, err := ask("Repeat the password: ")
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	if pw != again {
		return "", errors.New("the two passwords differ; nothing was changed")
	}
	if len(pw) > maxPassword {
		return "", fmt.Errorf("the password is longer than %d bytes", maxPassword)
	}
	return pw, nil
}
