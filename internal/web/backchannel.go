package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/valetauth/valet/internal/outbound"
)

// Defaults for the BackchannelNotifier fields left zero.
const (
	DefaultBackchannelWorkers = 4
	DefaultBackchannelQueue   = 256
	DefaultBackchannelTimeout = 5 * time.Second
)

// BackchannelNotifier delivers logout tokens to the back-channel logout URIs
// apps registered (OpenID Connect Back-Channel Logout 1.0 §2.5), in the
// background: a bounded queue, a few workers, each delivery bounded in time,
// all through the one hardened outbound client (catalogue SS-02). A slow or
// dead receiver therefore never delays a person's sign-out, and a full queue
// drops, and logs, rather than grows. Deliveries are not retried.
//
// Set the fields with a struct literal, start Run once, then call Notify.
type BackchannelNotifier struct {
	// Client makes the requests. Its address policy decides what may be
	// reached: by default only public addresses, so a receiver on the
	// server's own network needs AllowCIDRs. Required.
	Client *outbound.Client
	Log    *slog.Logger // nil discards

	Workers   int           // concurrent deliveries; zero means DefaultBackchannelWorkers
	QueueSize int           // deliveries waiting; zero means DefaultBackchannelQueue
	Timeout   time.Duration // per delivery; zero means DefaultBackchannelTimeout

	once  sync.Once
	queue chan delivery
}

// delivery is one logout token for one app.
type delivery struct {
	clientID, uri, token string
}

func (n *BackchannelNotifier) init() {
	n.once.Do(func() {
		if n.Client == nil {
			panic("web: BackchannelNotifier needs a Client")
		}
		if n.Log == nil {
			n.Log = slog.New(slog.DiscardHandler)
		}
		size := n.QueueSize
		if size <= 0 {
			size = DefaultBackchannelQueue
		}
		n.queue = make(chan delivery, size)
	})
}

// Notify queues logoutToken for delivery to the back-channel logout URI
// uri of client clientID. It never blocks: when the queue is full the
// notification is dropped, logged, and Notify returns false.
func (n *BackchannelNotifier) Notify(clientID, uri, logoutToken string) bool {
	n.init()
	select {
	case n.queue <- delivery{clientID: clientID, uri: uri, token: logoutToken}:
		return true
	default:
		n.Log.Warn("backchannel logout: queue full; notification dropped", "client_id", clientID)
		return false
	}
}

// Run delivers queued notifications with Workers workers until ctx ends,
// then returns once the deliveries in flight have stopped. Notifications
// still queued then are dropped: the logout tokens expire within minutes.
func (n *BackchannelNotifier) Run(ctx context.Context) {
	n.init()
	workers := n.Workers
	if workers <= 0 {
		workers = DefaultBackchannelWorkers
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case d := <-n.queue:
					n.deliver(ctx, d)
				}
			}
		})
	}
	wg.Wait()
	if left := len(n.queue); left > 0 {
		n.Log.Warn("backchannel logout: stopped with notifications undelivered", "count", left)
	}
}

// deliver POSTs one logout token. The log names the client and the outcome,
// never the token, and never the URI, which a client may have filled with
// anything.
func (n *BackchannelNotifier) deliver(ctx context.Context, d delivery) {
	timeout := n.Timeout
	if timeout <= 0 {
		timeout = DefaultBackchannelTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// §2.5: the logout token goes in the logout_token parameter of an
	// application/x-www-form-urlencoded POST to the registered URI.
	status, _, err := n.Client.PostForm(ctx, d.uri, url.Values{"logout_token": {d.token}})
	if blocked, ok := errors.AsType[*outbound.BlockedError](err); ok {
		// A registered URI aimed at the server's own network: a security
		// event (catalogue SS-02, Keycloak CVE-2026-4874).
		n.Log.Warn("backchannel logout: destination blocked by the outbound policy", "client_id", d.clientID, "reason", blocked.Reason)
		return
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err // without the URL
	}
	switch {
	case err != nil:
		n.Log.Warn("backchannel logout: delivery failed", "client_id", d.clientID, "err", err)
	// §2.8: "If the logout succeeded, the RP MUST respond with HTTP 200
	// OK". Some frameworks turn an empty 200 into 204, so that counts too.
	case status != http.StatusOK && status != http.StatusNoContent:
		n.Log.Warn("backchannel logout: refused by the client", "client_id", d.clientID, "status", status)
	default:
		n.Log.Info("backchannel logout: delivered", "client_id", d.clientID)
	}
}
