package gateway

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// errBrokerDown is returned without trying when the NATS connection is down:
// the client would buffer the publish until reconnecting, and Telegram is
// better served by a quick 503 than by a request held for PUBLISH_TIMEOUT.
var errBrokerDown = errors.New("not connected to NATS")

// publisher stores raw updates in their partition of TG_UPDATES, and the
// Crypto Pay webhook's in EVENTS.
type publisher struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	botID      string
	partitions int
	timeout    time.Duration
	m          *metrics
	// redeclareStreamsFunc asks the service skeleton to declare the
	// streams again.
	redeclareStreamsFunc func()
}

// publish stores raw under the partition of meta's chat, with meta as its
// headers, waiting at most PUBLISH_TIMEOUT for the ack. duplicate means the
// stream already had it.
func (p *publisher) publish(ctx context.Context, raw []byte, meta telegram.UpdateMeta, source string) (subject string, duplicate bool, err error) {
	subject = telegram.UpdatesSubject(bus.Partition(meta.RoutingKey(), p.partitions))
	start := time.Now()
	msg := &nats.Msg{Subject: subject, Data: raw, Header: meta.Header()}
	duplicate, err = p.store(ctx, msg, p.botID+":"+strconv.FormatInt(meta.UpdateID, 10))
	if errors.Is(err, errBrokerDown) {
		return subject, false, err // nothing was published: no publish to time
	}
	p.m.publishDuration.Observe(time.Since(start).Seconds())
	switch {
	case err != nil:
	case duplicate:
		p.m.duplicates.Inc()
	default:
		p.m.published.WithLabelValues(source).Inc()
	}
	return subject, duplicate, err
}

// store publishes msg under msgID, so that a redelivery is stored once,
// waiting at most PUBLISH_TIMEOUT for the ack.
func (p *publisher) store(ctx context.Context, msg *nats.Msg, msgID string) (duplicate bool, err error) {
	if !p.nc.IsConnected() {
		return false, errBrokerDown
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	duplicate, err = bus.PublishMsg(ctx, p.js, msg, msgID)
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		// Nothing listens on the subject: the stream was deleted, or
		// JetStream lost it. Declaring it again is harmless if not.
		p.redeclareStreamsFunc()
	}
	return duplicate, err
}

// traffic records when the last update (or any webhook request) arrived.
type traffic struct {
	last  atomic.Int64 // unix nanoseconds; 0 = nothing yet
	gauge prometheus.Gauge
}

func (t *traffic) stamp() time.Time {
	now := time.Now()
	t.last.Store(now.UnixNano())
	t.gauge.Set(float64(now.UnixNano()) / 1e9)
	return now
}

func (t *traffic) seen() bool { return t.last.Load() != 0 }
