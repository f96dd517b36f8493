// Package traces is make run's trace backend: an OTLP/HTTP receiver the
// services export their spans to (OTEL_EXPORTER_OTLP_ENDPOINT), keeping the
// latest traces in memory for the status page, which lists them and draws
// one as a waterfall. It is no Jaeger: no search, no storage, only what a
// newcomer needs to see the path of their own /start.
package traces

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const (
	// DefaultKeep is how many traces a Store keeps, the oldest dropped first.
	DefaultKeep = 300
	// maxBody bounds an export request: the SDK's batches are far smaller.
	maxBody = 16 << 20
	// maxAttributes bounds the attributes kept per span.
	maxAttributes = 24
)

// Span is one span as the status page shows it.
type Span struct {
	TraceID  string    `json:"trace_id"`
	SpanID   string    `json:"span_id"`
	ParentID string    `json:"parent_id,omitempty"`
	Name     string    `json:"name"`
	Service  string    `json:"service"`
	Kind     string    `json:"kind"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	// Error is the span's error status message, or "error" without one;
	// empty for a span that did not fail.
	Error      string            `json:"error,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	// Links are the trace ids the span links to (a dead letter's origin).
	Links []string `json:"links,omitempty"`
}

// Summary is a trace in the list: its root (or earliest) span, when, how
// long, and which services it crossed.
type Summary struct {
	TraceID  string        `json:"trace_id"`
	Root     string        `json:"root"`
	Service  string        `json:"service"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	Spans    int           `json:"spans"`
	Services []string      `json:"services"`
	Error    bool          `json:"error"`
}

// Store keeps the latest traces. Make it with New; it is safe for
// concurrent use.
type Store struct {
	keep int

	mu     sync.Mutex
	traces map[string][]Span
	order  []string // trace ids, oldest first
}

// New returns a store of the latest keep traces (DefaultKeep when keep <= 0).
func New(keep int) *Store {
	if keep <= 0 {
		keep = DefaultKeep
	}
	return &Store{keep: keep, traces: map[string][]Span{}}
}

// Add keeps spans, each with its trace.
func (s *Store) Add(spans ...Span) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sp := range spans {
		if _, ok := s.traces[sp.TraceID]; !ok {
			s.order = append(s.order, sp.TraceID)
		}
		s.traces[sp.TraceID] = append(s.traces[sp.TraceID], sp)
	}
	for len(s.order) > s.keep {
		delete(s.traces, s.order[0])
		s.order = s.order[1:]
	}
}

// Trace returns the spans of a trace, earliest first; nil when the store
// has none of it.
func (s *Store) Trace(id string) []Span {
	s.mu.Lock()
	spans := slices.Clone(s.traces[id])
	s.mu.Unlock()
	slices.SortStableFunc(spans, func(a, b Span) int { return a.Start.Compare(b.Start) })
	return spans
}

// Latest summarises up to n traces, the latest started first.
func (s *Store) Latest(n int) []Summary {
	s.mu.Lock()
	out := make([]Summary, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, summarise(id, s.traces[id]))
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Summary) int { return b.Start.Compare(a.Start) })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func summarise(id string, spans []Span) Summary {
	sum := Summary{TraceID: id, Spans: len(spans)}
	ids := map[string]bool{}
	for _, sp := range spans {
		ids[sp.SpanID] = true
	}
	// The root is the earliest span whose parent is not in the trace (a
	// trace's first spans may still be on their way).
	var root, first *Span
	var end time.Time
	for i := range spans {
		sp := &spans[i]
		if first == nil || sp.Start.Before(first.Start) {
			first = sp
		}
		if orphan := sp.ParentID == "" || !ids[sp.ParentID]; orphan && (root == nil || sp.Start.Before(root.Start)) {
			root = sp
		}
		if sp.End.After(end) {
			end = sp.End
		}
		if !slices.Contains(sum.Services, sp.Service) {
			sum.Services = append(sum.Services, sp.Service)
		}
		sum.Error = sum.Error || sp.Error != ""
	}
	if root == nil {
		root = first
	}
	if root != nil {
		sum.Root, sum.Service = root.Name, root.Service
	}
	if first != nil {
		sum.Start = first.Start
	}
	sum.Duration = end.Sub(sum.Start)
	return sum
}

// ServeHTTP is OTLP/HTTP's trace endpoint (POST /v1/traces): protobuf or
// JSON, gzip or not, answered as the protocol wants.
func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST an ExportTraceServiceRequest", http.StatusMethodNotAllowed)
		return
	}
	body := io.Reader(http.MaxBytesReader(w, r.Body, maxBody))
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			http.Error(w, "reading the gzip body: "+err.Error(), http.StatusBadRequest)
			return
		}
		defer zr.Close()
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var req collectorpb.ExportTraceServiceRequest
	asJSON := r.Header.Get("Content-Type") == "application/json"
	if asJSON {
		err = protojson.Unmarshal(raw, &req)
	} else {
		err = proto.Unmarshal(raw, &req)
	}
	if err != nil {
		http.Error(w, "decoding the ExportTraceServiceRequest: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.Add(Spans(&req)...)
	var out []byte
	if asJSON {
		out, err = protojson.Marshal(&collectorpb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/json")
	} else {
		out, err = proto.Marshal(&collectorpb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(out)
}

// Spans flattens an export request into spans, each named by its
// resource's service.name.
func Spans(req *collectorpb.ExportTraceServiceRequest) []Span {
	var out []Span
	for _, rs := range req.GetResourceSpans() {
		service := "unknown"
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = value(kv.GetValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				out = append(out, span(service, sp))
			}
		}
	}
	return out
}

func span(service string, sp *tracepb.Span) Span {
	v := Span{
		TraceID: hex.EncodeToString(sp.GetTraceId()), SpanID: hex.EncodeToString(sp.GetSpanId()),
		Name: sp.GetName(), Service: service, Kind: kindName(sp.GetKind()),
		Start: time.Unix(0, int64(sp.GetStartTimeUnixNano())).UTC(), End: time.Unix(0, int64(sp.GetEndTimeUnixNano())).UTC(),
	}
	if p := sp.GetParentSpanId(); len(p) > 0 {
		v.ParentID = hex.EncodeToString(p)
	}
	if st := sp.GetStatus(); st.GetCode() == tracepb.Status_STATUS_CODE_ERROR {
		v.Error = st.GetMessage()
		if v.Error == "" {
			v.Error = "error"
		}
	}
	for _, kv := range sp.GetAttributes() {
		if len(v.Attributes) == maxAttributes {
			break
		}
		if v.Attributes == nil {
			v.Attributes = map[string]string{}
		}
		v.Attributes[kv.GetKey()] = value(kv.GetValue())
	}
	for _, l := range sp.GetLinks() {
		v.Links = append(v.Links, hex.EncodeToString(l.GetTraceId()))
	}
	return v
}

func kindName(k tracepb.Span_SpanKind) string {
	switch k {
	case tracepb.Span_SPAN_KIND_SERVER:
		return "server"
	case tracepb.Span_SPAN_KIND_CLIENT:
		return "client"
	case tracepb.Span_SPAN_KIND_PRODUCER:
		return "producer"
	case tracepb.Span_SPAN_KIND_CONSUMER:
		return "consumer"
	}
	return "internal"
}

// value writes an attribute's value as text.
func value(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonpb.AnyValue_DoubleValue:
		return fmt.Sprint(x.DoubleValue)
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	}
	return fmt.Sprint(v.GetValue())
}
