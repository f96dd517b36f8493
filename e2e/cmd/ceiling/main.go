// Command ceiling is the benchmark's yardstick for the gateway: a bare HTTP
// handler that publishes each request body to the same stream, with the same
// Nats-Msg-Id, and answers 200 after the JetStream ack — and does nothing else
// (no secret check, no parsing, no metrics, no logs). `make bench` runs it next
// to the gateway on the same machine to show what the gateway's own work costs.
//
// The load generator sends the message id in X-Bench-Msg-Id and the partition
// in X-Bench-Partition, so this handler needs not read the update.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	nc, js, err := bus.Connect(ctx, os.Getenv("NATS_URL"), "ceiling", zerolog.Nop())
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := bus.DeclareStreams(ctx, js, telegram.UpdatesStreamConfig()); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", os.Getenv("HTTP_ADDR"))
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		p, _ := strconv.Atoi(r.Header.Get("X-Bench-Partition"))
		if _, err := bus.Publish(r.Context(), js, telegram.UpdatesSubject(p), body, r.Header.Get("X-Bench-Msg-Id")); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
	})
	return obs.ServeHTTP(ctx, ln, h)
}
