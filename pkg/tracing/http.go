package tracing

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
)

// masked is what a secret of a URL is replaced with in a span.
const masked = "xxxxx"

// HTTPHandler instruments h, a server of requests from outside (webhooks),
// with otelhttp: each request is a server span named name. The callers are
// not ours, so a traceparent they send starts no child: the span is a new
// root linked to it. Headers, which carry the webhooks' secrets, are not
// recorded.
func HTTPHandler(h http.Handler, name string) http.Handler {
	return otelhttp.NewHandler(h, name, otelhttp.WithPublicEndpointFn(func(*http.Request) bool { return true }))
}

// realURL holds, in a request's context, the URL to send while the span
// records a masked copy.
type realURL struct{}

// HTTPTransport instruments rt, a client of the outside API called name
// (telegram, cryptopay, a VPN panel), with otelhttp: each request is a
// client span "<name> <METHOD>", a child of the span in its ctx. Each of
// secrets (a bot token, a panel's secret path) is masked in the URL the span
// records, and no trace context is sent: an outside API has no use for it.
func HTTPTransport(rt http.RoundTripper, name string, secrets ...string) http.RoundTripper {
	send := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if u, ok := req.Context().Value(realURL{}).(*url.URL); ok {
			req = req.WithContext(req.Context())
			req.URL = u
		}
		return rt.RoundTrip(req)
	})
	traced := otelhttp.NewTransport(send,
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()),
		otelhttp.WithSpanNameFormatter(func(_ string, req *http.Request) string { return name + " " + req.Method }))
	var mask []string
	for _, s := range secrets {
		if s != "" {
			mask = append(mask, s, masked)
		}
	}
	if len(mask) == 0 {
		return idleCloser{traced, rt}
	}
	replacer := strings.NewReplacer(mask...)
	return idleCloser{roundTripFunc(func(req *http.Request) (*http.Response, error) {
		shown := *req.URL
		shown.Path = replacer.Replace(shown.Path)
		shown.RawPath = ""
		shown.RawQuery = replacer.Replace(shown.RawQuery)
		r := req.WithContext(context.WithValue(req.Context(), realURL{}, req.URL))
		r.URL = &shown
		return traced.RoundTrip(r)
	}), rt}
}

// idleCloser is an instrumented transport that still lets http.Client's
// CloseIdleConnections reach the transport underneath.
type idleCloser struct {
	http.RoundTripper
	under http.RoundTripper
}

func (t idleCloser) CloseIdleConnections() {
	if c, ok := t.under.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
