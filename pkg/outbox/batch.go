package outbox

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vpnbot/vpnbot/pkg/bus"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// batchWindow is how many publishes of a batch may await their ack at once.
// Waiting for each ack in turn (Publish) costs a round trip per command,
// which a broadcast to thousands of users cannot afford inside an update's
// deadline; an unbounded window would let a huge batch pile up in the
// client and the server at once. It stays below the client's own async
// limit (4,000 by default), so PublishMsgAsync never stalls on it.
const batchWindow = 256

// PublishBatch publishes msgs as Publish does — validated, on their
// priority's subject and chat partition, Nats-Msg-Id = dedup id, created_at
// set when missing — but keeps up to a window of publishes in flight instead
// of waiting for each ack, and returns once every one is acknowledged:
// published were stored, duplicates were already in the stream (a retried
// batch stores nothing twice). msgs themselves are not changed. Each command
// carries ctx's trace context, so the sender continues the caller's trace.
//
// A batch holding a command that can never be sent is refused whole, before
// anything is published, with an error wrapping ErrInvalid. On any other
// error (the stream refused one, ctx ended) publishing stops; the counts
// say what was acknowledged by then, and the caller retries the whole batch,
// which the dedup ids make safe.
func PublishBatch(ctx context.Context, js jetstream.JetStream, msgs []*vpnbotv1.SendMessage) (published, duplicates int, err error) {
	for i, m := range msgs {
		if err := validate(m); err != nil {
			return 0, 0, fmt.Errorf("publishing send command %d of %d: %w", i+1, len(msgs), err)
		}
	}
	now := timestamppb.Now()
	inFlight := make([]jetstream.PubAckFuture, 0, batchWindow)
	// settle waits for the oldest publish in flight: acks come back roughly
	// in the order of the publishes, so the oldest is the one to wait for.
	settle := func() error {
		f := inFlight[0]
		inFlight = inFlight[1:]
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				duplicates++
			} else {
				published++
			}
			return nil
		case err := <-f.Err():
			return fmt.Errorf("publishing send command %s: %w", f.Msg().Header.Get(jetstream.MsgIDHeader), err)
		case <-ctx.Done():
			return fmt.Errorf("publishing send commands: %d of %d acknowledged: %w", published+duplicates, len(msgs), ctx.Err())
		}
	}
	// drain settles what is in flight after a failure, so the counts are
	// true; the first error is the one returned.
	drain := func(first error) (int, int, error) {
		for len(inFlight) > 0 && ctx.Err() == nil {
			_ = settle()
		}
		return published, duplicates, first
	}
	for _, m := range msgs {
		if ctx.Err() != nil {
			return drain(fmt.Errorf("publishing send commands: %d of %d acknowledged: %w", published+duplicates, len(msgs), ctx.Err()))
		}
		if len(inFlight) == batchWindow {
			if err := settle(); err != nil {
				return drain(err)
			}
		}
		if m.GetCreatedAt() == nil {
			m = proto.CloneOf(m)
			m.CreatedAt = now
		}
		data, err := proto.Marshal(m)
		if err != nil {
			return drain(fmt.Errorf("encoding send command %s: %w", m.GetDedupId(), err))
		}
		msg := &nats.Msg{
			Subject: Subject(m.GetPriority(), bus.Partition(m.GetChatId(), Partitions)),
			Data:    data,
		}
		bus.Inject(ctx, msg)
		f, err := js.PublishMsgAsync(msg, jetstream.WithMsgID(m.GetDedupId()))
		if err != nil {
			return drain(fmt.Errorf("publishing send command %s: %w", m.GetDedupId(), err))
		}
		inFlight = append(inFlight, f)
	}
	for len(inFlight) > 0 {
		if err := settle(); err != nil {
			return drain(err)
		}
	}
	return published, duplicates, nil
}
