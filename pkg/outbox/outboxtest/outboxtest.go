// Package outboxtest reads what a test's code under test put in the OUTBOX.
package outboxtest

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbot/vpnbot/pkg/outbox"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// Commands returns every command in the OUTBOX stream, oldest first; nothing
// is consumed (a test runs no sender).
func Commands(tb testing.TB, js jetstream.JetStream) []*vpnbotv1.SendMessage {
	tb.Helper()
	stream, err := js.Stream(tb.Context(), outbox.Stream)
	if err != nil {
		tb.Fatalf("opening the OUTBOX stream: %v", err)
	}
	info, err := stream.Info(tb.Context())
	if err != nil {
		tb.Fatalf("reading the OUTBOX stream's state: %v", err)
	}
	var out []*vpnbotv1.SendMessage
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		raw, err := stream.GetMsg(tb.Context(), seq)
		if err != nil {
			tb.Fatalf("reading OUTBOX message %d: %v", seq, err)
		}
		m, err := outbox.Decode(raw.Data)
		if err != nil {
			tb.Fatalf("decoding OUTBOX message %d: %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}
