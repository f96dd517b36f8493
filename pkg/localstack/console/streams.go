package console

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbot/vpnbot/pkg/bus"
)

// StreamStatus is one JetStream stream as NATS itself reports it: what it
// stores and what waits for each of its consumers. It does not depend on the
// services that read it, so a backlog stays in view while its reader is down.
// Every number is the state now.
type StreamStatus struct {
	Name string `json:"name"`
	// Messages and Bytes are what the stream stores.
	Messages uint64 `json:"messages"`
	Bytes    uint64 `json:"bytes"`
	// LastPublishedAge is the time since the newest message was stored, in
	// seconds; nil when the stream never had one.
	LastPublishedAge *float64 `json:"last_published_age_seconds"`
	// DeadLetters is, for the DLQ, the dead letters it holds by the stream
	// they came from.
	DeadLetters map[string]uint64 `json:"dead_letters,omitempty"`
	Consumers   []StreamConsumer  `json:"consumers,omitempty"`
}

// StreamConsumer is one consumer of a stream as NATS reports it: a shared
// consumer's durable, or a partitioned one's durables together (one per
// partition). Every number is the state now.
type StreamConsumer struct {
	// Name is the durable, or the name a partitioned consumer's durables
	// share (bus.PartitionDurable), as the services' metrics label it.
	Name string `json:"name"`
	// Partitions is how many durables a partitioned consumer has; 0 for a
	// shared one.
	Partitions int `json:"partitions,omitempty"`
	// Behind is how many of the partitions have a message waiting or
	// unacknowledged.
	Behind int `json:"behind,omitempty"`
	// Pending is the messages not yet delivered.
	Pending uint64 `json:"pending"`
	// AckPending is the messages delivered and not yet acknowledged.
	AckPending int `json:"ack_pending"`
	// Redelivered is the messages among those delivered more than once.
	Redelivered int `json:"redelivered"`
	// Waiting is the pull requests waiting for messages: a reader that is
	// fetching has one out, a dead one none.
	Waiting int `json:"waiting"`
	// LastDeliveredAge and LastAckedAge are the times since the newest
	// delivery and acknowledgement, in seconds; nil before the first.
	LastDeliveredAge *float64 `json:"last_delivered_age_seconds"`
	LastAckedAge     *float64 `json:"last_acked_age_seconds"`
	// Readers are the running services whose metrics report reading this
	// consumer; none while its service is down.
	Readers []string `json:"readers"`
}

// readStreams reads every stream and its consumers from NATS, the DLQ last
// and the others by name; now dates the ages.
func readStreams(ctx context.Context, js jetstream.JetStream, now time.Time) ([]StreamStatus, error) {
	lister := js.ListStreams(ctx)
	var out []StreamStatus
	for info := range lister.Info() {
		st := StreamStatus{Name: info.Config.Name, Messages: info.State.Msgs, Bytes: info.State.Bytes}
		if info.State.LastSeq > 0 {
			st.LastPublishedAge = age(now, info.State.LastTime)
		}
		out = append(out, st)
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("listing the streams: %w", err)
	}
	slices.SortFunc(out, func(a, b StreamStatus) int {
		if aDLQ, bDLQ := a.Name == bus.StreamDLQ, b.Name == bus.StreamDLQ; aDLQ != bDLQ {
			if aDLQ {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	for i := range out {
		consumers, err := readConsumers(ctx, js, out[i].Name, now)
		if err != nil {
			return nil, err
		}
		out[i].Consumers = consumers
		if out[i].Name == bus.StreamDLQ {
			if out[i].DeadLetters, err = bus.DLQCounts(ctx, js); err != nil {
				return nil, fmt.Errorf("counting the dead letters: %w", err)
			}
		}
	}
	return out, nil
}

// readConsumers reads stream's consumers, a partitioned consumer's
// durables summed into one, by name.
func readConsumers(ctx context.Context, js jetstream.JetStream, stream string, now time.Time) ([]StreamConsumer, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("reading stream %s: %w", stream, err)
	}
	lister := st.ListConsumers(ctx)
	byName := map[string]*StreamConsumer{}
	for info := range lister.Info() {
		name, _, partitioned := bus.PartitionOf(info.Name)
		if !partitioned {
			name = info.Name
		}
		c, ok := byName[name]
		if !ok {
			c = &StreamConsumer{Name: name}
			byName[name] = c
		}
		if partitioned {
			c.Partitions++
			if info.NumPending > 0 || info.NumAckPending > 0 {
				c.Behind++
			}
		}
		c.Pending += info.NumPending
		c.AckPending += info.NumAckPending
		c.Redelivered += info.NumRedelivered
		c.Waiting += info.NumWaiting
		c.LastDeliveredAge = newer(c.LastDeliveredAge, now, info.Delivered.Last)
		c.LastAckedAge = newer(c.LastAckedAge, now, info.AckFloor.Last)
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("listing the consumers of %s: %w", stream, err)
	}
	out := make([]StreamConsumer, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, *byName[name])
	}
	return out, nil
}

// addReaders names, for each consumer of streams, the services among
// services whose metrics report reading it.
func addReaders(streams []StreamStatus, services []ServiceStatus) {
	for i := range streams {
		for j := range streams[i].Consumers {
			c := &streams[i].Consumers[j]
			c.Readers = []string{}
			for _, s := range services {
				if slices.ContainsFunc(s.Consumers, func(m ConsumerMetrics) bool {
					return m.Stream == streams[i].Name && m.Consumer == c.Name
				}) {
					c.Readers = append(c.Readers, s.Label)
				}
			}
		}
	}
}

// newer is the smaller of the age held and the age of t, which may be nil.
func newer(held *float64, now time.Time, t *time.Time) *float64 {
	if t == nil {
		return held
	}
	a := age(now, *t)
	if held != nil && *held < *a {
		return held
	}
	return a
}

// age is the time from t to now in seconds, never negative.
func age(now, t time.Time) *float64 {
	a := max(0, now.Sub(t).Seconds())
	return &a
}
