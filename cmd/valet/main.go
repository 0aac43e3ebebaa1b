// Command valet is the Valet authorization server and its operator tools:
// serve, migrate, client, user, keys, token and version. It is the only place that
// reads configuration (flags, VALET_* environment variables, a YAML file).
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "valet:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "valet",
		Short: "Valet is an OAuth 2 authorization server",
		Long: `Valet lets a person grant a third-party app limited, revocable access to their
data at your service, without ever giving that app their password.

Start it with "valet serve"; manage clients, users and signing keys with
"valet client", "valet user" and "valet keys", and inspect tokens with
"valet token", against the running server's admin API.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("data", envOr("VALET_DATA", "./valet-data"), "data directory (env VALET_DATA)")
	root.PersistentFlags().String("admin-url", envOr("VALET_ADMIN_URL", "http://127.0.0.1:8081"), "admin API address for the client, user, keys and token commands (env VALET_ADMIN_URL)")
	root.AddCommand(newServeCmd(), newMigrateCmd(), newVersionCmd(), newClientCmd(), newUserCmd(), newKeysCmd(), newTokenCmd(), newDemoCmd(), newBenchCmd())
	return root
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "valet", version)
			return nil
		},
	}
}
