package cryptopay_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const token = "12345:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

// env is a started sandbox and an HTTP client of the test's own, so idle
// connections are closed with the test.
type env struct {
	t      *testing.T
	s      *cryptopay.Server
	client *http.Client
}

func start(t *testing.T, cfg cryptopay.Config) *env {
	t.Helper()
	return startAt(t, cfg, "127.0.0.1:0")
}

// startAt is start on addr.
func startAt(t *testing.T, cfg cryptopay.Config, addr string) *env {
	t.Helper()
	cfg.Token = token
	s := cryptopay.New(cfg)
	require.NoError(t, s.Start(addr))
	tr := &http.Transport{}
	t.Cleanup(func() {
		s.Close()
		tr.CloseIdleConnections()
	})
	return &env{t: t, s: s, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// answer is an API response.
type answer struct {
	Status int             `json:"-"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  struct {
		Code int    `json:"code"`
		Name string `json:"name"`
	} `json:"error"`
}

func (e *env) do(req *http.Request) answer {
	e.t.Helper()
	resp, err := e.client.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	var a answer
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&a))
	a.Status = resp.StatusCode
	return a
}

// callJSON calls a method with a JSON body, as pkg/cryptopay does.
func (e *env) callJSON(method string, params any) answer {
	e.t.Helper()
	body, err := json.Marshal(params)
	require.NoError(e.t, err)
	req, err := http.NewRequest(http.MethodPost, e.s.URL()+"/api/"+method, strings.NewReader(string(body)))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Crypto-Pay-API-Token", token)
	return e.do(req)
}

// callQuery calls a method with GET and a query string, as many clients do.
func (e *env) callQuery(method string, q url.Values) answer {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.s.URL()+"/api/"+method+"?"+q.Encode(), nil)
	require.NoError(e.t, err)
	req.Header.Set("Crypto-Pay-API-Token", token)
	return e.do(req)
}

// create makes a USD invoice and returns it as the API answered.
func (e *env) create(params map[string]any) map[string]any {
	e.t.Helper()
	p := map[string]any{"currency_type": "fiat", "fiat": "USD", "amount": "4.99"}
	for k, v := range params {
		p[k] = v
	}
	a := e.callJSON("createInvoice", p)
	require.True(e.t, a.OK, "%+v", a)
	return decode[map[string]any](e.t, a.Result)
}

// sandbox calls the control API and returns the status and body.
func (e *env) sandbox(method, path, body string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.s.URL()+path, strings.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, data
}

func decode[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(raw, &v), string(raw))
	return v
}

func id(inv map[string]any) int64 { return int64(inv["invoice_id"].(float64)) }

// expectedSignature is Crypto Pay's documented signature, computed here
// independently of the sandbox.
func expectedSignature(body []byte) string {
	key := sha256.Sum256([]byte(token))
	m := hmac.New(sha256.New, key[:])
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// delivery is one webhook request as the receiver saw it.
type delivery struct {
	at        time.Time
	body      []byte
	signature string
}

// receiver records webhook deliveries, answering status(n) to the n-th (from 1).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []delivery
	status func(n int) int
}

func startReceiver(t *testing.T, status func(n int) int) *receiver {
	t.Helper()
	rc := &receiver{status: status}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, delivery{at: time.Now(), body: body, signature: r.Header.Get(cryptopay.SignatureHeader)})
		n := len(rc.got)
		rc.mu.Unlock()
		w.WriteHeader(rc.status(n))
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func always(status int) func(int) int { return func(int) int { return status } }

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}
