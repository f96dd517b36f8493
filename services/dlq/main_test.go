package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

func TestListAndReplayADeadLetter(t *testing.T) {
	srv := bustest.NewServer(t)
	_, js := bustest.Connect(t, srv.URL())
	ctx := context.Background()
	require.NoError(t, bus.DeclareStreams(ctx, js, telegram.UpdatesStreamConfig()))
	t.Setenv("NATS_URL", srv.URL())

	// A handler that refuses the update once, as a poison message would be,
	// then accepts it after the "fix".
	fixed := make(chan struct{})
	handled := make(chan string, 1)
	handledIn := make(chan string, 1) // the trace the replayed update was handled in
	consumer, err := bus.NewConsumer(js, bus.ConsumerConfig{
		Stream: telegram.UpdatesStream, Subject: telegram.UpdatesSubjectPrefix, Durable: "bot-handler",
		Mode: bus.Partitioned, Partitions: 1, HandlerTimeout: time.Second, FetchWait: 200 * time.Millisecond,
		HandleFunc: func(ctx context.Context, d bus.Delivery) error {
			select {
			case <-fixed:
				handledIn <- trace.SpanContextFromContext(ctx).TraceID().String()
				handled <- string(d.Data)
				return nil
			default:
				panic("unknown command format")
			}
		},
	}, zerolog.Nop(), prometheus.NewRegistry())
	require.NoError(t, err)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- consumer.Run(rctx) }()
	t.Cleanup(func() { stop(); require.NoError(t, <-done) })

	// Published by a service with tracing on: the update carries its trace.
	otel.SetTracerProvider(sdktrace.NewTracerProvider())
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	})
	pctx, span := otel.Tracer("test").Start(ctx, "webhook")
	_, err = bus.Publish(pctx, js, telegram.UpdatesSubject(0), []byte(`{"update_id":7}`), "1:7")
	require.NoError(t, err)
	span.End()
	traceID := span.SpanContext().TraceID().String()

	var out bytes.Buffer
	require.Eventually(t, func() bool {
		out.Reset()
		require.NoError(t, run(ctx, []string{"list"}, &out))
		return bytes.Contains(out.Bytes(), []byte("1 dead letter(s)"))
	}, 10*time.Second, 100*time.Millisecond)
	require.Contains(t, out.String(), "permanent")
	require.Contains(t, out.String(), "tg.updates.0")
	require.Contains(t, out.String(), "unknown command format")
	require.Contains(t, out.String(), "TRACE ID")
	require.Contains(t, out.String(), traceID, "on-call finds the update's trace from the list")

	entries, err := bus.ListDLQ(ctx, js, telegram.UpdatesStream, 10)
	require.NoError(t, err)
	require.Len(t, entries, 1)

	// A handler that panicked left its stack: show prints it, with the body.
	out.Reset()
	require.NoError(t, run(ctx, []string{"show", "1"}, &out))
	require.Contains(t, out.String(), "reason:     permanent")
	require.Contains(t, out.String(), "trace id:   "+traceID)
	require.Contains(t, out.String(), "handler panicked: unknown command format")
	require.Contains(t, out.String(), "stack:\ngoroutine")
	require.Contains(t, out.String(), "main_test.go")
	require.Contains(t, out.String(), `body (15 bytes):`+"\n"+`{"update_id":7}`)

	close(fixed)
	out.Reset()
	require.NoError(t, run(ctx, []string{"replay", "1"}, &out))
	require.Contains(t, out.String(), "replayed 1")
	select {
	case body := <-handled:
		require.Equal(t, `{"update_id":7}`, body)
		require.Equal(t, traceID, <-handledIn, "the replay continues the update's trace")
	case <-time.After(10 * time.Second):
		t.Fatal("the replayed update was not handled")
	}
	out.Reset()
	require.NoError(t, run(ctx, []string{"list"}, &out))
	require.Contains(t, out.String(), "0 dead letter(s)")
}

func TestBadCommandLinesSayHowToUseIt(t *testing.T) {
	t.Setenv("NATS_URL", bustest.NewServer(t).URL())
	for _, args := range [][]string{nil, {"purge"}, {"replay"}, {"show"}, {"show", "1", "2"}} {
		require.ErrorIs(t, run(context.Background(), args, &bytes.Buffer{}), errUsage, "%v", args)
	}
	require.ErrorContains(t, run(context.Background(), []string{"replay", "x"}, &bytes.Buffer{}), "not a DLQ sequence number")
	require.ErrorContains(t, run(context.Background(), []string{"show", "x"}, &bytes.Buffer{}), "not a DLQ sequence number")
}
