package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/valetauth/valet/internal/admin"
)

func newClientCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "client",
		Short: "Register and manage OAuth clients (apps) through the admin API",
		Long: `Register and manage the apps that may ask people for access, through the
running server's admin API (--admin-url, with the token from VALET_ADMIN_TOKEN
or the admin-token file in --data).`,
	}
	cmd.AddCommand(newClientCreateCmd(), newClientListCmd(), newClientShowCmd(), newClientDeleteCmd())
	return cmd
}

func newClientCreateCmd() *cobra.Command {
	var (
		m          admin.ClientMetadata
		public     bool
		authMethod string
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "create --name NAME --redirect-uri URI [flags]",
		Short: "Register a client and print its id and secret",
		Long: `Register a client and print its id and, for a confidential client, its
secret, which is shown only once.

Without --response-type the server derives the response types from the grant
types: authorization_code gives "code", implicit gives "token". The implicit
and password grants work only for clients that list them, and RFC 9700
deprecates both: a warning is printed when a client registers one.`,
		Example: `  valet client create --name FriendFinder --redirect-uri https://friendfinder.example/callback \
      --grant-type authorization_code --grant-type refresh_token --scope "openid contacts.read"
  valet client create --name "CLI tool" --public --redirect-uri http://127.0.0.1:8400/callback
  valet client create --name Reports --grant-type client_credentials --scope reports.read \
      --resource https://reports.example/api --access-token-format opaque`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if public {
				if authMethod != "" && authMethod != "none" {
					return fmt.Errorf("--public and --auth-method %s contradict each other: a public client authenticates with none", authMethod)
				}
				authMethod = "none"
			}
			m.TokenEndpointAuthMethod = authMethod
			conn, err := connectAdmin(cmd)
			if err != nil {
				return err
			}
			reg, raw, err := conn.CreateClient(cmd.Context(), m)
			if err != nil {
				return conn.explain(err)
			}
			warnLegacyGrants(cmd.ErrOrStderr(), reg.GrantTypes)
			if asJSON {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\n", raw)
				return err
			}
			return printCreatedClient(cmd.OutOrStdout(), reg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&m.ClientName, "name", "", "name shown to people asked for consent (required)")
	f.StringArrayVar(&m.RedirectURIs, "redirect-uri", nil, "exact redirect URI; repeat for several")
	f.StringArrayVar(&m.GrantTypes, "grant-type", nil, "grant type: authorization_code (default), refresh_token, client_credentials, implicit or password; repeat for several")
	f.StringArrayVar(&m.ResponseTypes, "response-type", nil, "response type at /authorize: code or token; repeat for several (default: derived from the grant types)")
	f.StringArrayVar(&m.Resources, "resource", nil, "RFC 8707 resource (an absolute URI) the client may ask tokens for; repeat for several (default: only the server's default audience)")
	f.StringVar(&m.AccessTokenFormat, "access-token-format", "", "access tokens as jwt (RFC 9068, the default; checked locally by resource servers) or opaque (checked by introspection)")
	f.StringVar(&m.Scope, "scope", "", `space-separated scopes the client may ask for, as in "openid contacts.read"`)
	f.BoolVar(&public, "public", false, "a public client (a native or browser app) that cannot keep a secret: --auth-method none")
	f.StringVar(&authMethod, "auth-method", "", "token endpoint authentication: client_secret_basic (default), client_secret_post or none")
	f.StringVar(&m.ClientURI, "client-uri", "", "the client's home page, shown on the consent page")
	f.StringVar(&m.LogoURI, "logo-uri", "", "the client's logo, shown on the consent page")
	f.StringVar(&m.PolicyURI, "policy-uri", "", "the client's privacy policy")
	f.StringVar(&m.TosURI, "tos-uri", "", "the client's terms of service")
	f.BoolVar(&asJSON, "json", false, "print the admin API's JSON answer")
	cmd.MarkFlagRequired("name")
	return cmd
}

func printCreatedClient(w io.Writer, reg *admin.ClientRegistration) error {
	fmt.Fprintf(w, "Registered %s client %q.\n\n", clientType(&reg.ClientMetadata), reg.ClientName)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  client_id:\t%s\n", reg.ClientID)
	if reg.ClientSecret != "" {
		fmt.Fprintf(tw, "  client_secret:\t%s\n", reg.ClientSecret)
	}
	writeClientFields(tw, &reg.ClientMetadata, "  ")
	if err := tw.Flush(); err != nil {
		return err
	}
	if reg.ClientSecret != "" {
		fmt.Fprintln(w, "\nThe client secret is shown only once: store it now. Valet keeps only a digest of it and cannot show it again.")
	}
	return nil
}

// warnLegacyGrants tells the operator about grants that RFC 9700 §2.1.2 and
// §2.4 advise against; they work, but only for clients that list them.
func warnLegacyGrants(w io.Writer, grants []string) {
	if slices.Contains(grants, "implicit") {
		fmt.Fprintln(w, "warning: the implicit grant exposes access tokens in the browser; RFC 9700 §2.1.2 advises the authorization code grant with PKCE instead")
	}
	if slices.Contains(grants, "password") {
		fmt.Fprintln(w, "warning: the password grant gives the client the user's password; RFC 9700 §2.4 says it MUST NOT be used")
	}
}

func newClientListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the registered clients",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := connectAdmin(cmd)
			if err != nil {
				return err
			}
			clients, raw, err := conn.ListClients(cmd.Context())
			if err != nil {
				return conn.explain(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				_, err := fmt.Fprintf(out, "%s\n", raw)
				return err
			}
			if len(clients) == 0 {
				fmt.Fprintln(out, "No clients yet. Register one with: valet client create --name NAME --redirect-uri URI")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tTYPE\tGRANTS\tREDIRECT URIS")
			for _, c := range clients {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ClientID, orDash(c.ClientName), clientType(&c),
					strings.Join(c.GrantTypes, ","), orDash(strings.Join(c.RedirectURIs, " ")))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON answer")
	return cmd
}

func newClientShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show CLIENT_ID",
		Short: "Show one client's registration (never its secret)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			conn, err := connectAdmin(cmd)
			if err != nil {
				return err
			}
			c, raw, err := conn.GetClient(cmd.Context(), args[0])
			if err != nil {
				return conn.explain(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				_, err := fmt.Fprintf(out, "%s\n", raw)
				return err
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "client_id:\t%s\n", c.ClientID)
			fmt.Fprintf(tw, "name:\t%s\n", orDash(c.ClientName))
			fmt.Fprintf(tw, "type:\t%s\n", clientType(c))
			writeClientFields(tw, c, "")
			if c.ClientIDIssuedAt != 0 {
				fmt.Fprintf(tw, "registered:\t%s\n", time.Unix(c.ClientIDIssuedAt, 0).UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON answer")
	return cmd
}

func newClientDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete CLIENT_ID",
		Short: "Delete a client; it can no longer obtain tokens",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			conn, err := connectAdmin(cmd)
			if err != nil {
				return err
			}
			if err := conn.DeleteClient(cmd.Context(), args[0]); err != nil {
				return conn.explain(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted client %s.\n", args[0])
			return nil
		},
	}
}

// writeClientFields writes the metadata that create and show both print,
// one "name:\tvalue" line each, every line starting with indent.
func writeClientFields(tw io.Writer, c *admin.ClientMetadata, indent string) {
	line := func(name, value string) { fmt.Fprintf(tw, "%s%s:\t%s\n", indent, name, value) }
	line("auth method", c.TokenEndpointAuthMethod)
	line("grant types", strings.Join(c.GrantTypes, ", "))
	line("response types", orDash(strings.Join(c.ResponseTypes, ", ")))
	line("redirect URIs", orDash(strings.Join(c.RedirectURIs, "\n"+indent+"\t")))
	line("scope", orDash(c.Scope))
	line("access tokens", orDash(c.AccessTokenFormat))
	line("resources", orDash(strings.Join(c.Resources, "\n"+indent+"\t")))
	for _, u := range []struct{ name, v string }{{"client URI", c.ClientURI}, {"logo URI", c.LogoURI}, {"policy URI", c.PolicyURI}, {"terms URI", c.TosURI}} {
		if u.v != "" {
			line(u.name, u.v)
		}
	}
}

func clientType(c *admin.ClientMetadata) string {
	if c.TokenEndpointAuthMethod == "none" {
		return "public"
	}
	return "confidential"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
