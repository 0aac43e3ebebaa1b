package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/valetauth/valet/internal/token"
)

// maxTokenArg bounds a token read from the command line or standard input;
// Valet's own are far smaller (catalogue pin P23: JWTs up to 16 KiB).
const maxTokenArg = 64 << 10

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Inspect tokens: ask the server about one, or read a JWT offline",
		Long: `Inspect tokens. "valet token introspect" asks the running server whether a
token still works (through the admin API, as a resource server would through
POST /introspect). "valet token decode" only reads what a JWT says, offline,
and checks nothing.

Pass the token as the argument, or "-" to read it from standard input, which
keeps it out of the shell history and the process list.`,
	}
	cmd.AddCommand(newTokenIntrospectCmd(), newTokenDecodeCmd())
	return cmd
}

func newTokenIntrospectCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "introspect TOKEN|-",
		Short: "Ask the server whether a token is active, and what it grants",
		Example: `  valet token introspect eyJhbGciOiJFUzI1NiIs...
  pbpaste | valet token introspect -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := tokenArg(cmd, args[0])
			if err != nil {
				return err
			}
			conn, err := connectAdmin(cmd)
			if err != nil {
				return err
			}
			in, body, err := conn.Introspect(cmd.Context(), raw)
			if err != nil {
				return conn.explain(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				_, err := fmt.Fprintf(out, "%s\n", body)
				return err
			}
			return printIntrospection(out, in, time.Now())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON answer (RFC 7662)")
	return cmd
}

// printIntrospection writes an introspection answer for a person.
func printIntrospection(w io.Writer, in *token.Introspection, now time.Time) error {
	if !in.Active {
		_, err := fmt.Fprintln(w, "active: false\n\nThe token does not work: it expired, was revoked or replaced, was signed by a removed key, or is not a token this server issued.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(name, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", name, v)
		}
	}
	line("active", "true")
	line("token use", in.TokenUse)
	line("client_id", in.ClientID)
	line("subject", in.Subject)
	line("scope", in.Scope)
	line("audience", strings.Join(in.Audience, " "))
	line("issuer", in.Issuer)
	line("expires", unixTime(in.Expiry, now))
	line("issued", unixTime(in.IssuedAt, now))
	line("not before", unixTime(in.NotBefore, now))
	line("signed in", unixTime(in.AuthTime, now))
	line("jti", in.ID)
	line("grant", in.GrantID)
	return tw.Flush()
}

func newTokenDecodeCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "decode TOKEN|-",
		Short: "Show a JWT's header and claims, offline, WITHOUT verifying anything",
		Long: `Show a JWT's header and claims as indented JSON. Nothing is verified: not the
signature, not the issuer, not the expiry. Anyone can write a JWT that says
anything, so never trust what this shows; use "valet token introspect" to
ask the server whether the token is real and still works.

Opaque tokens (at_..., rt_...) carry nothing readable: only the server can
look them up, with "valet token introspect".`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := tokenArg(cmd, args[0])
			if err != nil {
				return err
			}
			header, claims, err := splitJWT(raw)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				b, err := json.Marshal(struct {
					Verified bool            `json:"verified"`
					Header   json.RawMessage `json:"header"`
					Claims   json.RawMessage `json:"claims"`
				}{false, header, claims})
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(out, "%s\n", escapeUnsafe(b))
				return err
			}
			return printDecoded(out, cmd.ErrOrStderr(), header, claims, time.Now())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"verified": false, "header": {...}, "claims": {...}}`)
	return cmd
}

// notVerified heads every decoded token.
const notVerified = "NOT VERIFIED: this is what the token says, not whether it is true. Its signature,\n" +
	"issuer, audience and expiry were not checked; use `valet token introspect` for that."

// printDecoded writes the notice, then the header and claims as indented
// JSON in their own member order, then the times the claims hold.
func printDecoded(w, errw io.Writer, header, claims []byte, now time.Time) error {
	fmt.Fprintln(w, notVerified)
	for _, part := range []struct {
		name, title string
		json        []byte
	}{{"header", "Header", header}, {"claims", "Claims", claims}} {
		var buf bytes.Buffer
		if err := json.Indent(&buf, part.json, "", "  "); err != nil {
			return err
		}
		fmt.Fprintf(w, "\n%s:\n%s\n", part.title, escapeUnsafe(buf.Bytes()))
		for _, d := range duplicateMembers(part.json) {
			fmt.Fprintf(errw, "warning: %q appears more than once in the %s; Valet refuses such tokens (RFC 7519 §4)\n", d, part.name)
		}
	}
	var times map[string]any
	if json.Unmarshal(claims, &times) != nil {
		return nil
	}
	first := true
	for _, c := range []string{"exp", "iat", "nbf", "auth_time"} {
		n, ok := times[c].(float64)
		if !ok {
			continue
		}
		if first {
			fmt.Fprintln(w)
			first = false
		}
		fmt.Fprintf(w, "%s: %s\n", c, unixTime(int64(n), now))
	}
	return nil
}

// splitJWT returns the decoded header and payload of a compact JWS. It
// explains every other kind of token instead of guessing.
func splitJWT(raw string) (header, claims []byte, err error) {
	parts := strings.Split(raw, ".")
	switch {
	case strings.HasPrefix(raw, "at_") || strings.HasPrefix(raw, "rt_") || strings.HasPrefix(raw, "ac_"):
		return nil, nil, fmt.Errorf("this is an opaque token (%s...): it carries nothing readable; opaque tokens can only be introspected, with: valet token introspect -", raw[:3])
	case len(parts) == 5:
		return nil, nil, errors.New("this is an encrypted JWT (JWE): its claims cannot be read without the recipient's key")
	case len(parts) != 3:
		return nil, nil, errors.New("this is not a JWT (a JWT is three base64url parts separated by dots); an opaque token can only be introspected, with: valet token introspect -")
	}
	header, err = decodePart(parts[0])
	if err != nil {
		return nil, nil, fmt.Errorf("the JWT header %v", err)
	}
	claims, err = decodePart(parts[1])
	if err != nil {
		return nil, nil, fmt.Errorf("the JWT claims %v", err)
	}
	return header, claims, nil
}

// decodePart decodes one base64url part that must hold a JSON object.
func decodePart(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("are not base64url (RFC 7515 §2): this is not a JWT")
	}
	if !json.Valid(b) || !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		return nil, errors.New("are not a JSON object: this is not a JWT")
	}
	return b, nil
}

// duplicateMembers returns the top-level member names of a JSON object
// that appear more than once: encoding/json would silently keep the last.
func duplicateMembers(obj []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	seen := map[string]bool{}
	var dups []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return dups
		}
		name, _ := t.(string)
		if seen[name] {
			dups = append(dups, name)
		}
		seen[name] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return dups
		}
	}
	return dups
}

// escapeUnsafe rewrites, as JSON \u escapes, the characters a terminal
// might act on or that hide text: C1 controls (U+0080–U+009F, such as the
// 8-bit CSI) and the Unicode format characters (bidi overrides, zero-width
// spaces). Valid JSON holds them only inside strings, where the escape
// means the same, so the output stays valid JSON.
// Bytes that are not UTF-8 become U+FFFD first: a lone 0x9b is CSI to a
// terminal in an 8-bit encoding.
func escapeUnsafe(b []byte) []byte {
	s := strings.ToValidUTF8(string(b), "\ufffd")
	if !strings.ContainsFunc(s, unsafeRune) {
		return []byte(s)
	}
	var out strings.Builder
	for _, r := range s {
		if unsafeRune(r) {
			fmt.Fprintf(&out, `\u%04x`, r)
			continue
		}
		out.WriteRune(r)
	}
	return []byte(out.String())
}

func unsafeRune(r rune) bool {
	return (r >= 0x80 && r <= 0x9f) || unicode.Is(unicode.Cf, r)
}

// unixTime writes a NumericDate (RFC 7519 §2) with how far it is from now.
func unixTime(sec int64, now time.Time) string {
	if sec == 0 {
		return ""
	}
	t := time.Unix(sec, 0).UTC()
	d := t.Sub(now).Round(time.Second)
	switch {
	case d > 0:
		return fmt.Sprintf("%s (in %v)", t.Format(time.RFC3339), d)
	case d < 0:
		return fmt.Sprintf("%s (%v ago)", t.Format(time.RFC3339), -d)
	}
	return t.Format(time.RFC3339) + " (now)"
}

// tokenArg returns the token argument, or with "-" the first line of
// standard input, without surrounding white space.
func tokenArg(cmd *cobra.Command, arg string) (string, error) {
	if arg == "-" {
		line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), maxTokenArg+1)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read the token from standard input: %w", err)
		}
		arg = line
	}
	arg = strings.TrimSpace(arg)
	switch {
	case arg == "":
		return "", errors.New("no token: pass it as the argument, or - and the token on standard input")
	case len(arg) > maxTokenArg:
		return "", fmt.Errorf("the token is longer than %d bytes; no token Valet issues is", maxTokenArg)
	}
	return arg, nil
}
