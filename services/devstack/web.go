package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/localstack/console"
)

// webShutdown bounds the wait for the console's requests in flight (a
// Stars payment waits up to the sandbox's 10 s pre-checkout timeout).
const webShutdown = 12 * time.Second

// webApp is the console being served: the chat, the status page and the
// switches. A nil *webApp (real Telegram) serves nothing.
type webApp struct {
	URL  string
	app  *console.Server
	srv  *http.Server
	done chan error // Serve's result
	// nats is the status page's own connection, to read the streams.
	nats *nats.Conn
}

// serveWeb serves the console on addr. It needs the sandbox Telegram: with
// real Telegram it returns nil.
func serveWeb(ctx context.Context, log zerolog.Logger, st *localstack.Stack, addr string) (*webApp, error) {
	if st.Sandbox == nil {
		return nil, nil
	}
	nc, js, err := bus.Connect(ctx, st.NATSURL, "devstack-console", log.With().Str("component", "console").Logger())
	if err != nil {
		return nil, err
	}
	cfg := console.Config{Telegram: st.Sandbox, Control: st, JetStream: js, SandboxAPI: st.Sandbox.Handler(), Traces: st.Traces, Log: log}
	// A sandbox not running must stay a nil interface, or its switch would
	// call a nil server.
	if st.CryptoPay != nil {
		cfg.CryptoPay = st.CryptoPay
	}
	cfg.Panels = console.Panels(st)
	app, err := console.New(cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("SANDBOX_ADDR %s for the console: %w", addr, err)
	}
	w := &webApp{
		URL:  "http://" + ln.Addr().String(),
		app:  app,
		srv:  &http.Server{Handler: app.Handler(), ReadHeaderTimeout: 10 * time.Second},
		done: make(chan error, 1),
		nats: nc,
	}
	go func() { w.done <- w.srv.Serve(ln) }()
	return w, nil
}

// url is where a person reaches this run: the console, or the gateway
// without one (real Telegram).
func (w *webApp) url(st *localstack.Stack) string {
	if w == nil {
		return st.GatewayURL
	}
	return w.URL
}

// Shutdown stops serving, letting requests in flight finish, then closes
// the status page's NATS connection, before the broker stops.
func (w *webApp) Shutdown() error {
	if w == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), webShutdown)
	defer cancel()
	err := w.srv.Shutdown(ctx)
	if serveErr := <-w.done; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	w.nats.Close()
	if err != nil {
		return fmt.Errorf("stopping the console: %w", err)
	}
	return nil
}

// Close waits for the service starts the status page began; call it after
// the stack has closed, which ends them.
func (w *webApp) Close() {
	if w != nil {
		w.app.Close()
	}
}
