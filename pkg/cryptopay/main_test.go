package cryptopay_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	sandbox "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// token looks like a real Crypto Pay token, so a leak into an error or log
// would be recognisable.
const token = "12345:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

// startSandbox serves a fake Crypto Pay for one test.
func startSandbox(t *testing.T, cfg sandbox.Config) *sandbox.Server {
	t.Helper()
	cfg.Token = token
	s := sandbox.New(cfg)
	require.NoError(t, s.Start("127.0.0.1:0"))
	t.Cleanup(s.Close)
	return s
}

// newClient is a client of baseURL on the test's own HTTP client.
func newClient(t *testing.T, baseURL, tok string, timeout time.Duration) *cryptopay.Client {
	t.Helper()
	c, err := cryptopay.New(cryptopay.Config{BaseURL: baseURL, Token: tok, Timeout: timeout, HTTPClient: httpClient(t)})
	require.NoError(t, err)
	return c
}

// httpClient has a transport of the test's own, so its idle connections are
// closed with the test.
func httpClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// requestsTo returns the sandbox's log of calls to one method.
func requestsTo(s *sandbox.Server, method string) []sandbox.Request {
	var out []sandbox.Request
	for _, r := range s.Requests() {
		if r.Method == method {
			out = append(out, r)
		}
	}
	return out
}
