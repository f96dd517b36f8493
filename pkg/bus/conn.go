package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Event names of the NATS connection, in the `event` field of their log lines.
const (
	EventNATSConnected    = "NATS_CONNECTED"
	EventNATSDisconnected = "NATS_DISCONNECTED"
	EventNATSReconnected  = "NATS_RECONNECTED"
)

// reconnectWait is the pause between reconnect attempts: short enough that a
// restarted broker is picked up within a second or two.
const reconnectWait = time.Second

// A node whose machine vanishes (power loss, a partition) closes no TCP
// connection: its clients learn of it only when their pings go
// unanswered. nats.go's defaults, a ping every 2 minutes and the
// connection given up after 2 unanswered, would keep a service publishing
// into a dead socket for minutes while the other nodes, which elect new
// leaders within nats-server's Raft election timeout (seconds), could
// serve it. A ping every 10 s, the connection given up when a third is
// due with 2 unanswered (nats.go counts so), moves a client to another
// node 20 to 30 s after its node went silent, a silence no GC pause or
// busy node comes near; the pings cost a few bytes per connection.
const (
	pingInterval        = 10 * time.Second
	maxPingsOutstanding = 2
)

// Connect dials NATS at url as client name. It never gives up: if NATS is not
// reachable yet it returns a connection that keeps trying in the background
// (and logs NATS_DISCONNECTED, then NATS_CONNECTED), so a service can start
// before the broker.
// Losing and regaining the connection is logged as NATS_DISCONNECTED and
// NATS_RECONNECTED. ctx only guards the dial; the connection outlives it and
// is closed (or drained) by the caller.
func Connect(ctx context.Context, url, name string, log zerolog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("connecting to NATS: %w", err)
	}
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.PingInterval(pingInterval),
		nats.MaxPingsOutstanding(maxPingsOutstanding),
		nats.RetryOnFailedConnect(true),
		// Called once, when the first connection is made (at once, or later
		// when NATS was not up yet).
		nats.ConnectHandler(func(nc *nats.Conn) {
			log.Info().Str("event", EventNATSConnected).Str("server", nc.ConnectedUrlRedacted()).Msg("connected to NATS")
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() || nc.IsDraining() {
				return // our own shutdown, not an outage
			}
			log.Warn().Str("event", EventNATSDisconnected).Err(err).Msg("lost the connection to NATS; reconnecting")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("event", EventNATSReconnected).Str("server", nc.ConnectedUrlRedacted()).Msg("reconnected to NATS")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			ev := log.Warn().Err(err)
			if sub != nil {
				ev = ev.Str("subject", sub.Subject)
			}
			ev.Msg("NATS asynchronous error")
		}),
	)
	if err != nil {
		// Only a malformed URL or option gets here: RetryOnFailedConnect hides
		// an unreachable server.
		return nil, nil, fmt.Errorf("connecting to NATS: %w", err)
	}
	if !nc.IsConnected() {
		log.Warn().Str("event", EventNATSDisconnected).Msg("NATS is not reachable yet; connecting in the background")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("creating the JetStream handle: %w", err)
	}
	return nc, js, nil
}

// Ready returns a readiness check that fails unless nc is connected.
func Ready(nc *nats.Conn) func(ctx context.Context) error {
	return func(context.Context) error {
		if s := nc.Status(); s != nats.CONNECTED {
			return fmt.Errorf("NATS connection is %s", s)
		}
		return nil
	}
}

// Drain closes nc once its work is done, waiting at most timeout. A service
// calls it at shutdown, after it has stopped publishing and consuming,
// instead of Close: draining lets the subscriptions handle the messages
// already delivered to them and flushes what the connection still buffers
// until the server has it, while Close drops the former and does not wait
// for the latter.
func Drain(nc *nats.Conn, timeout time.Duration, log zerolog.Logger) {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		// A connection that is down cannot drain; it is closed all the same.
		log.Warn().Err(err).Msg("could not drain the NATS connection")
		nc.Close()
		return
	}
	select {
	case <-closed:
	case <-time.After(timeout):
		log.Warn().Dur("timeout", timeout).Msg("draining the NATS connection timed out; closing it")
		nc.Close()
	}
}
