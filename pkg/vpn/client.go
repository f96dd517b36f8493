package vpn

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vpnbot/vpnbot/pkg/tracing"
)

// maxAnswerBytes bounds how much of an answer is read: Outline's list of
// tens of thousands of keys fits, a misbehaving server cannot exhaust memory.
const maxAnswerBytes = 32 << 20

// apiClient sends JSON requests to one panel, each under its own timeout, and
// turns transport failures into the package's error kinds.
type apiClient struct {
	panel   string // the panel's kind (KindOutline, ...), for error messages
	base    string // scheme, host and path prefix; may hold a secret, never printed
	header  http.Header
	client  *http.Client
	timeout time.Duration
}

func newAPIClient(panel, base string, header http.Header, tlsConfig *tls.Config, timeout time.Duration) *apiClient {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	base = strings.TrimSuffix(base, "/")
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     tlsConfig,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	// The base's path is masked in the spans: Outline's is its API secret.
	var secretPath string
	if u, err := url.Parse(base); err == nil && strings.Trim(u.Path, "/") != "" {
		secretPath = u.Path
	}
	return &apiClient{
		panel:   panel,
		base:    base,
		header:  header,
		client:  &http.Client{Transport: tracing.HTTPTransport(transport, panel, secretPath)},
		timeout: timeout,
	}
}

// answer is a panel's reply, read whole.
type answer struct {
	status int
	body   []byte
}

// do sends one request, path being relative to the base (e.g.
// "/access-keys/vpnbot-1"), and reads the answer. It fails only when no
// answer came; the answer's status is the caller's to judge.
func (c *apiClient) do(ctx context.Context, method, path string, in any) (answer, error) {
	op := method + " " + path
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return answer{}, fmt.Errorf("%s %s: encoding the request: %w", c.panel, op, err)
		}
		body = bytes.NewReader(data)
	}
	reqCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, method, c.base+path, body)
	if err != nil {
		// The error would quote the URL, secret included.
		return answer{}, fmt.Errorf("%s %s: cannot build the request", c.panel, op)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return answer{}, c.transportError(ctx, op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return answer{}, c.transportError(ctx, op, err)
	}
	return answer{status: resp.StatusCode, body: data}, nil
}

// transportError classifies a request that got no answer.
func (c *apiClient) transportError(ctx context.Context, op string, err error) error {
	// *url.Error quotes the whole URL, the Outline secret path included: keep
	// only its cause.
	if uerr, ok := errors.AsType[*url.Error](err); ok {
		err = uerr.Err
	}
	switch {
	case ctx.Err() != nil:
		// The caller gave up, not the panel: its own deadline or shutdown.
		return fmt.Errorf("%s %s: %w", c.panel, op, context.Cause(ctx))
	case errors.Is(err, ErrUntrustedCertificate):
		return fmt.Errorf("%s %s: %w", c.panel, op, err)
	case isCertificateError(err):
		return fmt.Errorf("%s %s: %w: %w", c.panel, op, ErrUntrustedCertificate, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s %s: %w: no answer within %s", c.panel, op, ErrUnavailable, c.timeout)
	default:
		return fmt.Errorf("%s %s: %w: %w", c.panel, op, ErrUnavailable, err)
	}
}

func isCertificateError(err error) bool {
	_, verify := errors.AsType[*tls.CertificateVerificationError](err)
	_, authority := errors.AsType[x509.UnknownAuthorityError](err)
	_, host := errors.AsType[x509.HostnameError](err)
	_, invalid := errors.AsType[x509.CertificateInvalidError](err)
	return verify || authority || host || invalid
}

// statusError turns an answer the caller did not expect into an error of the
// right kind; detail is the panel's own message, already free of secrets.
func (c *apiClient) statusError(op string, a answer, detail string) error {
	where := c.panel + " " + op
	msg := fmt.Sprintf("answered %d %s", a.status, http.StatusText(a.status))
	if detail != "" {
		msg += ": " + truncate(detail, 300)
	}
	switch {
	case a.status >= 500 || a.status == http.StatusTooManyRequests || a.status == http.StatusRequestTimeout:
		return fmt.Errorf("%s: %w: %s", where, ErrUnavailable, msg)
	case a.status == http.StatusUnauthorized || a.status == http.StatusForbidden:
		return fmt.Errorf("%s: %w: %s", where, ErrUnauthorized, msg)
	default:
		return errors.New(where + ": " + msg)
	}
}

// decode reads a JSON answer into out.
func (c *apiClient) decode(op string, a answer, out any) error {
	if err := json.Unmarshal(a.body, out); err != nil {
		return fmt.Errorf("%s %s: reading the answer (%d): %w", c.panel, op, a.status, err)
	}
	return nil
}

// Close releases idle connections.
func (c *apiClient) Close() {
	c.client.CloseIdleConnections()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
