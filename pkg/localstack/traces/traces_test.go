package traces_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/vpnbot/vpnbot/pkg/localstack/traces"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// export is what two services' exporters send of one update: the gateway's
// publish, and the bot-handler's handling under it with a failed call.
func export(trace byte) []*collectorpb.ExportTraceServiceRequest {
	tid := bytes.Repeat([]byte{trace}, 16)
	at := func(d time.Duration) uint64 { return uint64(t0.Add(d).UnixNano()) }
	resource := func(service string, spans ...*tracepb.Span) *tracepb.ResourceSpans {
		return &tracepb.ResourceSpans{
			Resource:   &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("service.name", service)}},
			ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}},
		}
	}
	return []*collectorpb.ExportTraceServiceRequest{
		{ResourceSpans: []*tracepb.ResourceSpans{resource("bot-handler",
			&tracepb.Span{TraceId: tid, SpanId: []byte{2, 0, 0, 0, 0, 0, 0, 0}, ParentSpanId: []byte{1, 0, 0, 0, 0, 0, 0, 0},
				Name: "process tg.updates", Kind: tracepb.Span_SPAN_KIND_CONSUMER, StartTimeUnixNano: at(10 * time.Millisecond),
				EndTimeUnixNano: at(90 * time.Millisecond), Attributes: []*commonpb.KeyValue{str("messaging.system", "nats")}},
			&tracepb.Span{TraceId: tid, SpanId: []byte{3, 0, 0, 0, 0, 0, 0, 0}, ParentSpanId: []byte{2, 0, 0, 0, 0, 0, 0, 0},
				Name: "POST sendMessage", Kind: tracepb.Span_SPAN_KIND_CLIENT, StartTimeUnixNano: at(20 * time.Millisecond),
				EndTimeUnixNano: at(80 * time.Millisecond), Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "429"}},
		)}},
		{ResourceSpans: []*tracepb.ResourceSpans{resource("gateway",
			&tracepb.Span{TraceId: tid, SpanId: []byte{1, 0, 0, 0, 0, 0, 0, 0}, Name: "POST /telegram/webhook",
				Kind: tracepb.Span_SPAN_KIND_SERVER, StartTimeUnixNano: at(0), EndTimeUnixNano: at(5 * time.Millisecond)},
		)}},
	}
}

func post(t *testing.T, h http.Handler, req *collectorpb.ExportTraceServiceRequest, asJSON, gzipped bool) *httptest.ResponseRecorder {
	t.Helper()
	var body []byte
	var err error
	ct := "application/x-protobuf"
	if asJSON {
		body, err = protojson.Marshal(req)
		ct = "application/json"
	} else {
		body, err = proto.Marshal(req)
	}
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodPost, "/v1/traces", bytes.NewReader(body))
	r.Header.Set("Content-Type", ct)
	if gzipped {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, err := zw.Write(body)
		require.NoError(t, err)
		require.NoError(t, zw.Close())
		r = httptest.NewRequest(http.MethodPost, "/v1/traces", &b)
		r.Header.Set("Content-Type", ct)
		r.Header.Set("Content-Encoding", "gzip")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// A trace exported in parts, by two services, in protobuf, JSON or gzip, is
// one trace: its root the gateway's span that came last, its services both.
func TestATraceExportedByTwoServicesIsOneTrace(t *testing.T) {
	for _, c := range []struct {
		name           string
		asJSON, gzipIt bool
	}{{"protobuf", false, false}, {"json", true, false}, {"gzip", false, true}} {
		t.Run(c.name, func(t *testing.T) {
			s := traces.New(0)
			for _, req := range export(7) {
				w := post(t, s, req, c.asJSON, c.gzipIt)
				require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			}
			list := s.Latest(10)
			require.Len(t, list, 1)
			id := "07070707070707070707070707070707"
			require.Equal(t, traces.Summary{TraceID: id, Root: "POST /telegram/webhook", Service: "gateway", Start: t0,
				Duration: 90 * time.Millisecond, Spans: 3, Services: []string{"bot-handler", "gateway"}, Error: true}, list[0])

			spans := s.Trace(id)
			require.Len(t, spans, 3)
			require.Equal(t, []string{"POST /telegram/webhook", "process tg.updates", "POST sendMessage"},
				[]string{spans[0].Name, spans[1].Name, spans[2].Name}, "earliest first")
			require.Equal(t, spans[0].SpanID, spans[1].ParentID)
			require.Equal(t, "consumer", spans[1].Kind)
			require.Equal(t, map[string]string{"messaging.system": "nats"}, spans[1].Attributes)
			require.Equal(t, "429", spans[2].Error)
			require.Nil(t, s.Trace("00"))
		})
	}
}

// The store keeps the latest traces, the latest started listed first.
func TestTheStoreKeepsTheLatestTraces(t *testing.T) {
	s := traces.New(2)
	for i := range 3 {
		s.Add(traces.Span{TraceID: string(rune('a' + i)), SpanID: "1", Name: "t", Service: "x",
			Start: t0.Add(time.Duration(i) * time.Second), End: t0.Add(time.Duration(i)*time.Second + time.Millisecond)})
	}
	list := s.Latest(10)
	require.Len(t, list, 2)
	require.Equal(t, "c", list[0].TraceID)
	require.Equal(t, "b", list[1].TraceID)
	require.Nil(t, s.Trace("a"), "the oldest went")
	require.Len(t, s.Latest(1), 1)
}

func TestABadExportIsRefused(t *testing.T) {
	s := traces.New(0)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/traces", nil))
	require.Equal(t, http.StatusMethodNotAllowed, w.Code)
	w = httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/v1/traces", bytes.NewBufferString("not protobuf"))
	r.Header.Set("Content-Type", "application/x-protobuf")
	s.ServeHTTP(w, r)
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Empty(t, s.Latest(10))
}
