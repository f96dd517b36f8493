package bus

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/obs"
)

// WatchInterval is how often the services look at what WatchDLQ exports:
// Prometheus's usual scrape interval.
const WatchInterval = 15 * time.Second

// watchTimeout bounds one look at a stream or consumer.
const watchTimeout = 5 * time.Second

// WatchDLQ exports vpnbot_dlq_messages, the dead letters held per original
// stream, every interval until ctx is done. streams are the origins shown
// from the start (at 0), so an alert sees the first dead letter arrive;
// others appear when they have one.
func WatchDLQ(ctx context.Context, js jetstream.JetStream, streams []string,
	every time.Duration, reg prometheus.Registerer, log zerolog.Logger) error {
	held, err := obs.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vpnbot_dlq_messages",
		Help: "Dead letters held in the DLQ stream, by the stream they came from (list and replay them with the dlq command).",
	}, []string{"stream"}))
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, s := range streams {
		seen[s] = true
		held.WithLabelValues(s)
	}
	look := func(ctx context.Context) {
		counts, err := DLQCounts(ctx, js)
		if err != nil {
			log.Debug().Err(err).Msg("cannot read the DLQ stream for its gauge")
			return
		}
		for s := range counts {
			seen[s] = true
		}
		// A stream whose dead letters were all replayed reads 0 again.
		for s := range seen {
			held.WithLabelValues(s).Set(float64(counts[s]))
		}
	}
	return watch(ctx, every, look)
}

// DLQCounts returns the DLQ stream's message count per original stream,
// as the stream holds them now: none when there is no DLQ stream yet.
func DLQCounts(ctx context.Context, js jetstream.JetStream) (map[string]uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, watchTimeout)
	defer cancel()
	counts := map[string]uint64{}
	s, err := js.Stream(ctx, StreamDLQ)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return counts, nil
	}
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(DLQSubject(">")))
	if err != nil {
		return nil, err
	}
	for subject, n := range info.State.Subjects {
		counts[strings.TrimPrefix(subject, DLQSubject(""))] += n
	}
	return counts, nil
}

// watch calls look at once, then every interval until ctx is done.
func watch(ctx context.Context, every time.Duration, look func(context.Context)) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		look(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
