package fakehttp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/sandbox/fakehttp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newServer returns a server whose handler answers "hello", whose
// unavailable answer is a 503 "closed", and whose logs go to the returned
// buffer. It is closed when the test ends.
func newServer(t *testing.T, h http.HandlerFunc) (*fakehttp.Server, *obstest.LogBuffer) {
	t.Helper()
	if h == nil {
		h = func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") }
	}
	logs := &obstest.LogBuffer{}
	s := fakehttp.New(fakehttp.Config{
		Name:    "test sandbox",
		Handler: h,
		UnavailableFunc: func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "closed", http.StatusServiceUnavailable)
		},
		Log: zerolog.New(logs),
	})
	t.Cleanup(func() { s.Close(nil) })
	return s, logs
}

// get returns the status and body of GET url with client.
func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

func plainClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestStartServesAtURLAndCloseStops(t *testing.T) {
	t.Parallel()
	s, logs := newServer(t, nil)
	require.Empty(t, s.URL(), "no URL before Start")

	require.NoError(t, s.Start("127.0.0.1:0"))
	url := s.URL()
	require.True(t, strings.HasPrefix(url, "http://127.0.0.1:"), url)
	require.Len(t, logs.Lines(`"url":"`+url+`"`, `"message":"test sandbox listening"`), 1)

	client := plainClient(t)
	code, body := get(t, client, url+"/anything")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "hello", body)

	s.Close(nil)
	client.CloseIdleConnections()
	_, err := client.Get(url + "/anything")
	require.Error(t, err, "nothing listens after Close")
}

func TestStartTLSServesHTTPS(t *testing.T) {
	t.Parallel()
	s, logs := newServer(t, nil)
	cert, pool := selfSigned(t)
	require.NoError(t, s.StartTLS("127.0.0.1:0", cert))
	url := s.URL()
	require.True(t, strings.HasPrefix(url, "https://127.0.0.1:"), url)
	require.Len(t, logs.Lines(`"addr":"`+strings.TrimPrefix(url, "https://")+`"`, `"message":"test sandbox listening"`), 1)

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	code, body := get(t, &http.Client{Transport: tr, Timeout: 10 * time.Second}, url+"/")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "hello", body)

	// A client that does not trust the certificate fails the handshake; the
	// server logs that at debug level rather than on stderr.
	untrusting := plainClient(t)
	_, err := untrusting.Get(url + "/")
	require.Error(t, err)
	require.Eventually(t, func() bool {
		return len(logs.Lines(`"level":"debug"`, "TLS handshake error")) > 0
	}, 5*time.Second, 10*time.Millisecond)
}

func TestHandlerAfterCloseAnswersUnavailable(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, nil)
	h := s.Handler() // mounted elsewhere, as tests of the fakes do

	s.Close(nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Equal(t, "closed", strings.TrimSpace(rec.Body.String()))
}

func TestStartRefusedAfterCloseOrTwice(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, nil)
	require.NoError(t, s.Start("127.0.0.1:0"))
	url := s.URL()
	require.EqualError(t, s.Start("127.0.0.1:0"), "starting test sandbox: already started")
	cert, _ := selfSigned(t)
	require.EqualError(t, s.StartTLS("127.0.0.1:0", cert), "starting test sandbox: already started")
	require.Equal(t, url, s.URL(), "a refused Start keeps the first URL")

	closed, _ := newServer(t, nil)
	closed.Close(nil)
	require.EqualError(t, closed.Start("127.0.0.1:0"), "starting test sandbox: server is closed")
	require.Empty(t, closed.URL())
}

func TestStartReportsListenError(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })

	s, _ := newServer(t, nil)
	err = s.Start(ln.Addr().String())
	require.ErrorContains(t, err, "starting test sandbox: listen tcp")
	// The failed attempt did not count as started.
	require.NoError(t, s.Start("127.0.0.1:0"))
}

func TestCloseReleasesThenWaitsForInFlightRequest(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	release := make(chan struct{})
	finished := make(chan struct{})
	s, _ := newServer(t, func(http.ResponseWriter, *http.Request) {
		close(entered)
		<-release
		close(finished)
	})
	// Mounted without Start: Close waits for requests the fake's own
	// listener never saw.
	h := s.Handler()
	go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	<-entered

	closed := make(chan struct{})
	go func() {
		s.Close(func() { close(release) })
		close(closed)
	}()
	select {
	case <-closed:
		select {
		case <-finished:
		default:
			t.Fatal("Close returned before the in-flight request finished")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after releasing the request")
	}
}

func TestCloseWaitsForHungRequest(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	unblock := make(chan struct{})
	s, _ := newServer(t, func(http.ResponseWriter, *http.Request) {
		close(entered)
		<-unblock
	})
	h := s.Handler()
	go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	<-entered

	closed := make(chan struct{})
	go func() {
		s.Close(nil)
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while a request was still in flight")
	case <-time.After(100 * time.Millisecond): // Close is still waiting, as it should
	}
	close(unblock)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the request finished")
	}
}

func TestCloseCallsReleaseOnce(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, nil)
	calls := 0
	s.Close(func() { calls++ })
	s.Close(func() { calls++ })
	require.Equal(t, 1, calls)
}

// selfSigned returns a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}
