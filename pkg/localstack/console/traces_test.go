package console_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/localstack/console"
	"github.com/vpnbot/vpnbot/pkg/localstack/traces"
)

// The status page lists the latest traces and serves one's spans for its
// waterfall; without a receiver it says tracing is off.
func TestTheStatusPageListsTracesAndServesOnesSpans(t *testing.T) {
	t.Parallel()
	store := traces.New(0)
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	store.Add(
		traces.Span{TraceID: "aa", SpanID: "1", Name: "POST /telegram/webhook", Service: "gateway", Start: at, End: at.Add(4 * time.Millisecond)},
		traces.Span{TraceID: "aa", SpanID: "2", ParentID: "1", Name: "process", Service: "bot-handler",
			Start: at.Add(5 * time.Millisecond), End: at.Add(40 * time.Millisecond)},
	)
	e := start(t, console.Config{Traces: store})

	status, body := e.do(http.MethodGet, "/api/traces", "")
	require.Equal(t, http.StatusOK, status, string(body))
	list := decode[struct {
		On     bool             `json:"on"`
		Traces []traces.Summary `json:"traces"`
	}](t, body)
	require.True(t, list.On)
	require.Len(t, list.Traces, 1)
	require.Equal(t, "POST /telegram/webhook", list.Traces[0].Root)
	require.Equal(t, []string{"gateway", "bot-handler"}, list.Traces[0].Services)
	require.Equal(t, 40*time.Millisecond, list.Traces[0].Duration)

	status, body = e.do(http.MethodGet, "/api/traces/aa", "")
	require.Equal(t, http.StatusOK, status)
	spans := decode[[]traces.Span](t, body)
	require.Len(t, spans, 2)
	require.Equal(t, "1", spans[1].ParentID)
	status, _ = e.do(http.MethodGet, "/api/traces/bb", "")
	require.Equal(t, http.StatusNotFound, status)

	off := start(t, console.Config{})
	status, body = off.do(http.MethodGet, "/api/traces", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"on":false,"traces":[]}`, string(body))
}
