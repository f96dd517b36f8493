package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpnbot/vpnbot/pkg/tracing"
	"github.com/vpnbot/vpnbot/pkg/tracing/tracingtest"
)

func TestHTTPTransportTracesACallWithItsSecretsMasked(t *testing.T) {
	rec := tracingtest.Record(t)
	var gotPath, gotTraceparent string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotTraceparent = r.URL.Path, r.Header.Get("traceparent")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	const token = "123456:SECRET-token"
	tr := &http.Transport{}
	client := &http.Client{Transport: tracing.HTTPTransport(tr, "telegram", token)}
	defer client.CloseIdleConnections()

	ctx, parent := otel.Tracer("test").Start(context.Background(), "update")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/bot"+token+"/sendMessage", nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	parent.End()

	require.Equal(t, "/bot"+token+"/sendMessage", gotPath, "the real URL is sent")
	require.Empty(t, gotTraceparent, "no trace context goes to an outside API")
	var call sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "telegram POST" {
			call = s
		}
	}
	require.NotNil(t, call, "the call is a span")
	require.Equal(t, parent.SpanContext().SpanID(), call.Parent().SpanID())
	require.Equal(t, trace.SpanKindClient, call.SpanKind())
	var urlAttr string
	for _, a := range call.Attributes() {
		require.NotContains(t, a.Value.Emit(), "SECRET", "attribute %s shows the token", a.Key)
		if a.Key == "url.full" {
			urlAttr = a.Value.AsString()
		}
	}
	require.True(t, strings.HasSuffix(urlAttr, "/botxxxxx/sendMessage"), "url.full is %q", urlAttr)
}

func TestHTTPHandlerStartsANewTraceForAnOutsideCaller(t *testing.T) {
	rec := tracingtest.Record(t)
	var inside trace.SpanContext
	h := tracing.HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inside = trace.SpanContextFromContext(r.Context())
	}), "webhook")
	caller := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{9}, TraceFlags: trace.FlagsSampled})
	req := httptest.NewRequest(http.MethodPost, "/telegram", nil)
	otel.GetTextMapPropagator().Inject(trace.ContextWithSpanContext(context.Background(), caller), propagation.HeaderCarrier(req.Header))
	h.ServeHTTP(httptest.NewRecorder(), req)

	spans := rec.Ended()
	require.Len(t, spans, 1)
	require.Equal(t, inside, spans[0].SpanContext(), "the handler runs in the server span")
	require.Equal(t, trace.SpanKindServer, spans[0].SpanKind())
	require.False(t, spans[0].Parent().IsValid(), "an outside caller's trace is not continued")
	require.NotEqual(t, caller.TraceID(), inside.TraceID())
	require.Len(t, spans[0].Links(), 1, "it is linked instead")
	require.Equal(t, caller.TraceID(), spans[0].Links()[0].SpanContext.TraceID())
}
