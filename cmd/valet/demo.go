package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/valetauth/valet/demo/friendfinder"
	"github.com/valetauth/valet/demo/mail"
	"github.com/valetauth/valet/internal/admin"
)

// demoUsername is the person of the story.
const demoUsername = "ana"

func newDemoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run OAuth's story on this machine: Valet, a Mail API and the FriendFinder app",
		Long: `Run the story OAuth 2 was made for, on loopback addresses of this machine:

  FriendFinder  a third-party app that wants to know which of ana's Mail
                contacts already use it, and must not read her mail
  Valet         the authorization server: a temporary database, the person
                "ana" with a random password, and FriendFinder registered
  Mail          the API with ana's contacts and mail, accepting Valet's tokens

Open FriendFinder's address (printed at start) in a browser and click through:
its result page shows each step of the flow as it happened, every HTTP
message with secrets masked. A second page runs the other grants (client
credentials, password, implicit). Nothing is opened for you; everything is
removed when the command stops (Ctrl-C).`,
		Example: `  valet demo
  valet demo --friendfinder-port 8090 --valet-port 8091 --mail-port 8092`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// After the first Ctrl-C, a second one kills at once.
			go func() { <-ctx.Done(); stop() }()
			o.out, o.logOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
			err := runDemo(ctx, o, nil)
			if ctx.Err() != nil && errors.Is(err, context.Canceled) {
				return nil // stopped while starting
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.friendFinderPort, "friendfinder-port", 0, "FriendFinder's port on 127.0.0.1 (0 picks a free one)")
	f.IntVar(&o.valetPort, "valet-port", 0, "Valet's port on localhost (0 picks a free one)")
	f.IntVar(&o.mailPort, "mail-port", 0, "Mail's port on 127.0.0.1 (0 picks a free one)")
	f.StringVar(&o.logLevel, "log-level", "warn", "log level: debug, info, warn or error (info shows every request Valet answers)")
	return cmd
}

// demoOptions are the settings of runDemo.
type demoOptions struct {
	valetPort, mailPort, friendFinderPort int
	logLevel                              string
	out, logOut                           io.Writer
	// wrapFriendFinder, when set, wraps FriendFinder's handler: tests
	// record every request FriendFinder receives.
	wrapFriendFinder func(http.Handler) http.Handler
	// friendFinderHTTP, when set, is the client FriendFinder sends its
	// requests with: tests see the tokens it gets.
	friendFinderHTTP *http.Client
}

// demoInfo is what a running demo tells its caller.
type demoInfo struct {
	Valet, Admin, AdminToken, Mail, FriendFinder string
	Username, Password, UserID                   string
	FriendFinderID, FriendFinderSecret           string
	LabID, LabSecret                             string
	Dir                                          string // the temporary data directory
}

// runDemo runs Valet, Mail and FriendFinder until ctx ends, then stops
// them and removes the temporary data directory. ready, when not nil, is
// called once all three serve.
func runDemo(ctx context.Context, o demoOptions, ready func(demoInfo)) error {
	if o.logLevel == "" {
		o.logLevel = "warn"
	}
	if _, err := parseLevel(o.logLevel); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	if o.out == nil {
		o.out = io.Discard
	}
	if o.logOut == nil {
		o.logOut = io.Discard
	}
	log := newLogger(&config{LogFormat: "text", LogLevel: o.logLevel}, o.logOut)

	dir, err := os.MkdirTemp("", "valet-demo-")
	if err != nil {
		return fmt.Errorf("create the demo's temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)

	// Mail and FriendFinder listen first: their addresses go into Valet's
	// configuration and the registrations.
	mailLn, err := listenLoopback(o.mailPort, "--mail-port")
	if err != nil {
		return err
	}
	defer mailLn.Close()
	ffLn, err := listenLoopback(o.friendFinderPort, "--friendfinder-port")
	if err != nil {
		return err
	}
	defer ffLn.Close()
	info := demoInfo{
		Mail:         "http://" + mailLn.Addr().String(),
		FriendFinder: "http://" + ffLn.Addr().String(),
		Username:     demoUsername,
		Password:     demoPassword(),
		AdminToken:   randomHex(32),
		Dir:          dir,
	}

	valet, err := startDemoValet(ctx, o, dir, info.Mail, info.AdminToken)
	if err != nil {
		return err
	}
	defer valet.stop()
	info.Valet, info.Admin = valet.issuer, valet.admin

	if err := registerDemo(ctx, &info); err != nil {
		valet.stop()
		return err
	}

	mailHandler, err := (&mail.Server{
		URL:       info.Mail,
		Issuer:    info.Valet,
		Mailboxes: map[string]*mail.Mailbox{info.UserID: mail.SampleMailbox(demoUsername)},
		Log:       log.With("server", "mail"),
	}).Handler()
	if err != nil {
		return err
	}
	app, err := friendfinder.New(ctx, friendfinder.Config{
		URL:          info.FriendFinder,
		Issuer:       info.Valet,
		ClientID:     info.FriendFinderID,
		ClientSecret: info.FriendFinderSecret,
		MailURL:      info.Mail,
		Registration: friendFinderRegistration(info),
		Lab: &friendfinder.Lab{
			ClientID:     info.LabID,
			ClientSecret: info.LabSecret,
			Registration: labRegistration(info),
		},
		HTTPClient: o.friendFinderHTTP,
		Log:        log.With("server", "friendfinder"),
	})
	if err != nil {
		return err
	}
	ffHandler := app.Handler()
	if o.wrapFriendFinder != nil {
		ffHandler = o.wrapFriendFinder(ffHandler)
	}

	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	servers := []*http.Server{newHTTPServer(mailHandler, errLog), newHTTPServer(ffHandler, errLog)}
	errc := make(chan error, len(servers)+1)
	for i, ln := range []net.Listener{mailLn, ffLn} {
		go func() { errc <- servers[i].Serve(ln) }()
	}
	go func() { errc <- <-valet.done }()

	printDemoBanner(o.out, info)
	if ready != nil {
		ready(info)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err == nil || errors.Is(err, http.ErrServerClosed) {
			err = errors.New("a demo server stopped unexpectedly")
		}
		runErr = fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintln(o.out, "\nStopping the demo and removing", dir)
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		s.Shutdown(sctx)
	}
	if err := valet.stop(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// demoValet is the Valet of a running demo.
type demoValet struct {
	issuer, admin string
	done          chan error // receives serve's result once
	cancel        context.CancelFunc
	stopped       chan struct{}
	err           error
}

// stop ends Valet and waits for it; it may be called more than once.
func (v *demoValet) stop() error {
	v.cancel()
	<-v.stopped
	return v.err
}

// startDemoValet runs serve in-process on loopback with a temporary SQLite
// database in dir, and waits until it listens.
func startDemoValet(ctx context.Context, o demoOptions, dir, mailURL, adminToken string) (*demoValet, error) {
	for attempt := 0; ; attempt++ {
		port := o.valetPort
		if port == 0 {
			// serve listens itself, and the issuer must name its port
			// before it starts: take a free port and hand it over. Another
			// process may take it in between; then try another.
			p, err := freeLoopbackPort()
			if err != nil {
				return nil, err
			}
			port = p
		}
		c := defaultConfig()
		// The issuer is "localhost" and FriendFinder and Mail are on
		// 127.0.0.1: browsers keep cookies per host name, not per port, so
		// FriendFinder never even receives Valet's session cookie.
		c.Issuer = fmt.Sprintf("http://localhost:%d", port)
		c.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		c.AdminAddr = "127.0.0.1:0"
		c.Data = dir
		c.Secret = randomHex(32)
		c.AdminToken = adminToken
		c.LogLevel = o.logLevel
		// Mail is the demo's only API: tokens that name no resource are
		// for it (the password grant of x/oauth2 cannot send one).
		c.Audience = mailURL
		c.LegacyGrants = "on" // Grant Lab shows the implicit and password grants
		c.Scopes = map[string]string{
			mail.ScopeContacts: "Read your contacts",
			mail.ScopeMail:     "Read your mail",
		}
		if err := c.validate(); err != nil {
			return nil, err
		}

		vctx, cancel := context.WithCancel(context.Background())
		readyc := make(chan [2]string, 1)
		errc := make(chan error, 1)
		go func() {
			errc <- serve(vctx, c, o.logOut, func(pub, adm net.Addr) { readyc <- [2]string{pub.String(), adm.String()} })
		}()
		select {
		case addrs := <-readyc:
			v := &demoValet{issuer: c.Issuer, admin: "http://" + addrs[1], cancel: cancel,
				done: make(chan error, 1), stopped: make(chan struct{})}
			go func() {
				err := <-errc
				if err != nil {
					err = fmt.Errorf("valet: %w", err)
				}
				v.err = err
				close(v.stopped)
				v.done <- err
			}()
			return v, nil
		case err := <-errc:
			cancel()
			if o.valetPort == 0 && errors.Is(err, syscall.EADDRINUSE) && attempt < 3 {
				continue
			}
			if o.valetPort != 0 && errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("--valet-port %d is in use; choose another, or 0 for a free one", o.valetPort)
			}
			return nil, err
		case <-ctx.Done():
			cancel()
			<-errc
			return nil, ctx.Err()
		}
	}
}

// registerDemo creates the person and the two apps through the admin API,
// as an operator would with the valet user and valet client commands.
func registerDemo(ctx context.Context, info *demoInfo) error {
	ac := &admin.Client{BaseURL: info.Admin, Token: info.AdminToken, HTTP: &http.Client{Timeout: 30 * time.Second}}
	user, _, err := ac.CreateUser(ctx, admin.UserInput{
		Username: demoUsername, Password: info.Password,
		Name: "Ana", Email: "ana@mail.example", EmailVerified: true,
	})
	if err != nil {
		return fmt.Errorf("demo: create the user %s: %w", demoUsername, err)
	}
	info.UserID = user.ID

	ff, _, err := ac.CreateClient(ctx, admin.ClientMetadata{
		ClientName:              "FriendFinder",
		RedirectURIs:            []string{info.FriendFinder + "/callback"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		Scope:                   mail.ScopeContacts,
		TokenEndpointAuthMethod: "client_secret_basic",
		Resources:               []string{info.Mail},
		ClientURI:               info.FriendFinder,
	})
	if err != nil {
		return fmt.Errorf("demo: register FriendFinder: %w", err)
	}
	info.FriendFinderID, info.FriendFinderSecret = ff.ClientID, ff.ClientSecret

	// The other grants are off for every client that does not register
	// them; Grant Lab opts into each one explicitly.
	lab, _, err := ac.CreateClient(ctx, admin.ClientMetadata{
		ClientName:              "Grant Lab",
		RedirectURIs:            []string{info.FriendFinder + "/grants/implicit/callback"},
		GrantTypes:              []string{"client_credentials", "password", "implicit"},
		Scope:                   mail.ScopeContacts,
		TokenEndpointAuthMethod: "client_secret_basic",
		Resources:               []string{info.Mail},
		ClientURI:               info.FriendFinder + "/grants",
	})
	if err != nil {
		return fmt.Errorf("demo: register Grant Lab: %w", err)
	}
	info.LabID, info.LabSecret = lab.ClientID, lab.ClientSecret
	return nil
}

// friendFinderRegistration is the command that would register FriendFinder
// by hand, shown on its home page.
func friendFinderRegistration(info demoInfo) string {
	return "valet client create --name FriendFinder \\\n" +
		"  --redirect-uri " + info.FriendFinder + "/callback \\\n" +
		"  --grant-type authorization_code --grant-type refresh_token \\\n" +
		"  --scope contacts.read --resource " + info.Mail
}

// labRegistration is the command that would register Grant Lab by hand,
// shown on the grants page.
func labRegistration(info demoInfo) string {
	return "valet client create --name \"Grant Lab\" \\\n" +
		"  --grant-type client_credentials --grant-type password --grant-type implicit \\\n" +
		"  --redirect-uri " + info.FriendFinder + "/grants/implicit/callback \\\n" +
		"  --scope contacts.read --resource " + info.Mail
}

func printDemoBanner(w io.Writer, info demoInfo) {
	fmt.Fprintf(w, `Valet demo: the story of OAuth 2 is running. Open FriendFinder in a browser:

  FriendFinder  %-28s the third-party app: start here
  Valet         %-28s the authorization server: sign-in and consent
  Mail          %-28s the API with ana's contacts and mail

  Sign in at Valet as %s with the password  %s
  (type it at Valet, never at FriendFinder).

The other grants of the note run at %s/grants.
Everything lives in %s and is removed when you press Ctrl-C.
`, info.FriendFinder, info.Valet, info.Mail, info.Username, info.Password, info.FriendFinder, info.Dir)
}

// listenLoopback listens on 127.0.0.1:port; 0 picks a free port.
func listenLoopback(port int, flag string) (net.Listener, error) {
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("%s %d: want a port between 0 and 65535", flag, port)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1:%d: %w (choose another port with %s, or 0 for a free one)", port, err, flag)
	}
	return ln, nil
}

func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// demoPassword is a random password that is easy to read and type:
// 60 bits in three groups, without the look-alikes l, 1, o and 0.
func demoPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789" // 32 characters: 5 bits each
	b := make([]byte, 12)
	rand.Read(b)
	var s strings.Builder
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			s.WriteByte('-')
		}
		s.WriteByte(alphabet[c%32])
	}
	return s.String()
}
