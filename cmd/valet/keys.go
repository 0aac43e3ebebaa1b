package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/valetauth/valet/internal/admin"
)

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List and rotate the signing keys through the admin API",
		Long: `List and rotate the keys Valet signs tokens with, through the running server's
admin API (--admin-url, with the token from VALET_ADMIN_TOKEN or the
admin-token file in --data). Key material never leaves the server: these
commands show key IDs, algorithms and dates only.

A key is "pending" (published in /jwks, not yet signing), "signing",
"verifying" (published so that the tokens it signed still verify, but no
longer signing) or "removed" (gone from /jwks; deleted shortly).`,
	}
	cmd.AddCommand(newKeysListCmd(), newKeysRotateCmd())
	return cmd
}

func newKeysListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the signing keys, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := connectAdmin(cmd)
			if err != nil {
				return err
			}
			ks, raw, err := conn.ListKeys(cmd.Context())
			if err != nil {
				return conn.explain(err)
			}
			if asJSON {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\n", raw)
				return err
			}
			return printKeys(cmd.OutOrStdout(), ks)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON answer")
	return cmd
}

func newKeysRotateCmd() *cobra.Command {
	var (
		in     admin.KeyRotateInput
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "rotate [--algorithm ES256|RS256] [--now]",
		Short: "Start a key rotation: a new key is published now and signs an hour later",
		Long: `Start a signing key rotation. The new key is published in /jwks at once but
signs only after the pre-publication interval (an hour by default), so that
resource servers that cache the JWKS learn it first. The old key keeps
signing until then, and stays published until every token it signed has
expired. Nothing a client holds stops working.

--now is for a key that may have leaked. The new key signs at once and every
older key of the algorithm leaves /jwks at once: EVERY TOKEN THEY SIGNED
(access tokens and ID tokens) FAILS VERIFICATION AND INTROSPECTS INACTIVE
from then on, so clients must get new tokens (refresh tokens keep working).
Other nodes switch at their next key reload, within a minute.`,
		Example: `  valet keys rotate
  valet keys rotate --algorithm ES256
  valet keys rotate --algorithm ES256 --now   # the ES256 key leaked`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := connectAdmin(cmd)
			if err != nil {
				return err
			}
			rot, raw, err := conn.RotateKeys(cmd.Context(), in)
			if err != nil {
				return conn.explain(err)
			}
			if rot.Now && len(rot.Rotated) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: the old %s keys were removed at once: every token they signed now fails verification, and clients must get new tokens\n",
					strings.Join(rot.Rotated, " and "))
			}
			out := cmd.OutOrStdout()
			if asJSON {
				_, err := fmt.Fprintf(out, "%s\n", raw)
				return err
			}
			printRotation(out, rot)
			fmt.Fprintln(out)
			return printKeys(out, rot.Keys)
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.Algorithm, "algorithm", "", "rotate only the key of this algorithm: ES256 (access tokens) or RS256 (ID tokens); default both")
	f.BoolVar(&in.Now, "now", false, "sign with the new key at once and remove the old keys at once; tokens they signed stop working (for a leaked key)")
	f.BoolVar(&asJSON, "json", false, "print the admin API's JSON answer")
	return cmd
}

// printRotation says what happened and when the next steps happen.
func printRotation(w io.Writer, rot *admin.KeyRotation) {
	if len(rot.Rotated) == 0 {
		fmt.Fprintln(w, "No key was rotated: another rotation made a newer key at the same moment. The keys are below.")
		return
	}
	for _, alg := range rot.Rotated {
		var next, old *admin.KeyView
		for i := range rot.Keys {
			k := &rot.Keys[i]
			switch {
			case k.Algorithm != alg:
			case next == nil:
				next = k // newest first: the key just made
			case old == nil && k.Status != admin.KeyRemoved:
				old = k
			}
		}
		switch {
		case next == nil:
			fmt.Fprintf(w, "Rotated %s.\n", alg)
		case rot.Now:
			fmt.Fprintf(w, "Replaced the %s key: %s signs from now on; the old %s keys are no longer published.\n", alg, next.ID, alg)
		default:
			fmt.Fprintf(w, "Started the %s rotation: %s is published now and signs from %s.\n", alg, next.ID, formatTime(&next.NotBefore))
			if old != nil && old.RemoveAt != nil {
				fmt.Fprintf(w, "  %s signs until then and stays published until %s, when the tokens it signed have expired.\n", old.ID, formatTime(old.RemoveAt))
			}
		}
	}
}

// printKeys writes the keys as a table.
func printKeys(w io.Writer, ks []admin.KeyView) error {
	if len(ks) == 0 {
		fmt.Fprintln(w, "No signing keys yet: `valet serve` makes them when it first starts.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATUS\tCREATED\tSIGNS FROM\tSIGNS UNTIL\tPUBLISHED UNTIL")
	for _, k := range ks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.Status,
			formatTime(&k.CreatedAt), formatTime(&k.NotBefore), formatTime(k.RetiredAt), formatTime(k.RemoveAt))
	}
	return tw.Flush()
}

// formatTime writes t in UTC to the second, or "-" when absent.
func formatTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
