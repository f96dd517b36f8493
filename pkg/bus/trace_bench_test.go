package bus_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
)

// discard is an exporter that drops what the batch processor hands it, so
// the benchmark measures tracing's cost in the service, not a backend's.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// BenchmarkPipeline publishes b.N messages and consumes them through a
// shared consumer, with tracing off (the API's no-ops, as without an OTLP
// endpoint) and on at 100 % sampling with the batch processor pkg/tracing
// sets up: the msgs/s of the two is tracing's throughput cost.
//
//	go test -run '^$' -bench Pipeline -benchtime 3000x ./bus/
func BenchmarkPipeline(b *testing.B) {
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	defer func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
	}()
	for _, mode := range []string{"tracing=off", "tracing=on"} {
		b.Run(mode, func(b *testing.B) {
			if mode == "tracing=on" {
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discard{}), sdktrace.WithSampler(sdktrace.AlwaysSample()))
				defer func() { _ = tp.Shutdown(context.Background()) }()
				otel.SetTracerProvider(tp)
				otel.SetTextMapPropagator(propagation.TraceContext{})
			} else {
				otel.SetTracerProvider(noop.NewTracerProvider())
				otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
			}
			benchPipeline(b)
		})
	}
}

func benchPipeline(b *testing.B) {
	srv := bustest.NewServer(b)
	_, js := bustest.Connect(b, srv.URL())
	ctx := context.Background()
	if err := bus.DeclareStreams(ctx, js, testStreamConfig()); err != nil {
		b.Fatal(err)
	}
	var handled atomic.Int64
	all := make(chan struct{})
	c, err := bus.NewConsumer(js, bus.ConsumerConfig{
		Stream: testStream, Subject: testSubject(0), Durable: "bench", Mode: bus.Shared, MaxInFlight: 64,
		FetchWait: 100 * time.Millisecond,
		HandleFunc: func(context.Context, bus.Delivery) error {
			if handled.Add(1) == int64(b.N) {
				close(all)
			}
			return nil
		},
	}, zerolog.Nop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(rctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	data := []byte(`{"update_id":1,"message":{"chat":{"id":1},"text":"/start"}}`)
	// Each message has its Nats-Msg-Id, as every publisher's has (an
	// update's id, an outbox command's dedup id, an event's), so a
	// message has headers with tracing off too: the traceparent adds one.
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = "bench-" + strconv.Itoa(i)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := bus.Publish(ctx, js, testSubject(0), data, ids[i]); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-all:
	case <-time.After(time.Minute):
		b.Fatalf("%d of %d messages handled", handled.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
