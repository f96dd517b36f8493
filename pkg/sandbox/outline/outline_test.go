package outline_test

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/sandbox/outline"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func start(t *testing.T, cfg outline.Config) *outline.Server {
	t.Helper()
	s, err := outline.New(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Start("127.0.0.1:0"))
	t.Cleanup(s.Close)
	return s
}

// call sends a request with the sandbox's trusting client and returns the
// status and the body.
func call(t *testing.T, s *outline.Server, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(data)
}

type restError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func decode[T any](t *testing.T, raw string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(raw), &v), raw)
	return v
}

func TestEverythingOutsideTheSecretPathIsNotFound(t *testing.T) {
	t.Parallel()
	s := start(t, outline.Config{SecretPath: "S3cretPath"})
	base := strings.TrimSuffix(s.APIURL(), "/S3cretPath")
	require.Equal(t, "https://", s.APIURL()[:8])

	for _, path := range []string{"/access-keys", "/S3cret/access-keys", "/S3cretPathX/access-keys", "/"} {
		status, body := call(t, s, http.MethodGet, base+path, "")
		require.Equal(t, http.StatusNotFound, status, path)
		require.Equal(t, "ResourceNotFound", decode[restError](t, body).Code, path)
	}
	status, body := call(t, s, http.MethodGet, s.APIURL()+"/access-keys", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"accessKeys":[]}`, body)
	status, body = call(t, s, http.MethodGet, s.APIURL()+"/no-such-route", "")
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, "ResourceNotFound", decode[restError](t, body).Code)
	require.Empty(t, s.Keys())
}

func TestCertificateIsIdentifiedBySHA256(t *testing.T) {
	t.Parallel()
	s := start(t, outline.Config{})
	addr := strings.TrimPrefix(s.APIURL(), "https://")
	addr = addr[:strings.Index(addr, "/")]

	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // only reading the cert
	require.NoError(t, err)
	der := conn.ConnectionState().PeerCertificates[0].Raw
	require.NoError(t, conn.Close())
	sum := sha256.Sum256(der)
	require.Equal(t, strings.ToUpper(hex.EncodeToString(sum[:])), s.CertSHA256())

	var mc struct {
		APIURL     string `json:"apiUrl"`
		CertSHA256 string `json:"certSha256"`
	}
	require.NoError(t, json.Unmarshal([]byte(s.ManagerConfig()), &mc))
	require.Equal(t, s.APIURL(), mc.APIURL)
	require.Equal(t, s.CertSHA256(), mc.CertSHA256)
}

func TestAccessKeyRoutes(t *testing.T) {
	t.Parallel()
	s := start(t, outline.Config{Hostname: "vpn.example.com", Port: 443})
	api := s.APIURL()

	status, body := call(t, s, http.MethodPost, api+"/access-keys", "")
	require.Equal(t, http.StatusCreated, status)
	first := decode[map[string]any](t, body)
	require.Equal(t, "0", first["id"])
	require.Equal(t, "chacha20-ietf-poly1305", first["method"])
	require.EqualValues(t, 443, first["port"])
	userInfo := base64.RawURLEncoding.EncodeToString([]byte("chacha20-ietf-poly1305:" + first["password"].(string)))
	require.Equal(t, "ss://"+userInfo+"@vpn.example.com:443/?outline=1", first["accessUrl"])

	status, body = call(t, s, http.MethodPut, api+"/access-keys/shop-1", `{"name":"Alice","limit":{"bytes":1000}}`)
	require.Equal(t, http.StatusCreated, status)
	require.Equal(t, "shop-1", decode[map[string]any](t, body)["id"])
	status, body = call(t, s, http.MethodPut, api+"/access-keys/shop-1", `{"name":"Bob"}`)
	require.Equal(t, http.StatusConflict, status)
	require.Equal(t, "Conflict", decode[restError](t, body).Code)
	k, ok := s.Key("shop-1")
	require.True(t, ok)
	require.Equal(t, "Alice", k.Name, "a conflicting create changes nothing")
	require.Equal(t, int64(1000), *k.DataLimit)

	status, _ = call(t, s, http.MethodPut, api+"/access-keys/shop-1/name", `{"name":"Carol"}`)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = call(t, s, http.MethodPut, api+"/access-keys/shop-1/data-limit", `{"limit":{"bytes":-1}}`)
	require.Equal(t, http.StatusBadRequest, status)
	status, _ = call(t, s, http.MethodDelete, api+"/access-keys/shop-1/data-limit", "")
	require.Equal(t, http.StatusNoContent, status)
	status, body = call(t, s, http.MethodGet, api+"/access-keys/shop-1", "")
	require.Equal(t, http.StatusOK, status)
	got := decode[map[string]any](t, body)
	require.Equal(t, "Carol", got["name"])
	require.NotContains(t, got, "dataLimit")

	status, body = call(t, s, http.MethodGet, api+"/access-keys", "")
	require.Equal(t, http.StatusOK, status)
	var list struct {
		AccessKeys []struct {
			ID string `json:"id"`
		} `json:"accessKeys"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	require.Len(t, list.AccessKeys, 2)
	require.Equal(t, "0", list.AccessKeys[0].ID)
	require.Equal(t, "shop-1", list.AccessKeys[1].ID)

	status, _ = call(t, s, http.MethodDelete, api+"/access-keys/shop-1", "")
	require.Equal(t, http.StatusNoContent, status)
	for _, req := range [][2]string{
		{http.MethodDelete, "/access-keys/shop-1"},
		{http.MethodGet, "/access-keys/shop-1"},
		{http.MethodPut, "/access-keys/shop-1/name"},
	} {
		status, body = call(t, s, req[0], api+req[1], `{"name":"x"}`)
		require.Equal(t, http.StatusNotFound, status, req)
		require.Equal(t, "NotFound", decode[restError](t, body).Code, req)
	}
	require.Len(t, s.Keys(), 1)
	require.Equal(t, 2, s.Requests("PUT /access-keys/{id}"), "the conflicting create was counted")
}

func TestFaults(t *testing.T) {
	t.Parallel()
	s := start(t, outline.Config{})
	api := s.APIURL()

	s.Inject(outline.Fault{Route: "POST /access-keys", Status: http.StatusInternalServerError, Times: 1})
	status, _ := call(t, s, http.MethodPost, api+"/access-keys", "")
	require.Equal(t, http.StatusInternalServerError, status)
	require.Empty(t, s.Keys(), "a failed call does nothing")
	status, _ = call(t, s, http.MethodPost, api+"/access-keys", "")
	require.Equal(t, http.StatusCreated, status, "the fault was used up")

	s.Inject(outline.Fault{Route: "post /ACCESS-KEYS", ServeFirst: true, Status: http.StatusBadGateway, Times: 1})
	status, _ = call(t, s, http.MethodPost, api+"/access-keys", "")
	require.Equal(t, http.StatusBadGateway, status)
	require.Len(t, s.Keys(), 2, "served before the reply was lost")

	s.Inject(outline.Fault{Latency: 150 * time.Millisecond, Times: 1})
	began := time.Now()
	status, _ = call(t, s, http.MethodGet, api+"/access-keys", "")
	require.Equal(t, http.StatusOK, status)
	require.GreaterOrEqual(t, time.Since(began), 150*time.Millisecond)

	s.Inject(outline.Fault{Hang: true})
	done := make(chan int, 1)
	go func() {
		status, _ := call(t, s, http.MethodGet, api+"/access-keys", "")
		done <- status
	}()
	require.Eventually(t, func() bool { return s.Requests("GET /access-keys") == 2 }, 5*time.Second, 5*time.Millisecond)
	require.Never(t, func() bool { return len(done) > 0 }, 100*time.Millisecond, 5*time.Millisecond)
	s.ClearFaults()
	select {
	case status := <-done:
		require.Equal(t, http.StatusOK, status)
	case <-time.After(5 * time.Second):
		t.Fatal("hung call was not released by ClearFaults")
	}
}

func TestCloseReleasesHangingCalls(t *testing.T) {
	t.Parallel()
	s := start(t, outline.Config{})
	s.Inject(outline.Fault{Hang: true})
	client := s.Client()
	done := make(chan error, 1)
	go func() {
		resp, err := client.Get(s.APIURL() + "/access-keys")
		if err == nil {
			err = resp.Body.Close()
		}
		done <- err
	}()
	require.Eventually(t, func() bool { return s.Requests("") == 1 }, 5*time.Second, 5*time.Millisecond)

	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the hanging call")
	}
	<-done // answered 503 or cut off: either way it returned
}

func TestControlAPI(t *testing.T) {
	t.Parallel()
	s := start(t, outline.Config{})
	base := strings.TrimSuffix(s.APIURL(), s.APIURL()[strings.LastIndex(s.APIURL(), "/"):])

	status, _ := call(t, s, http.MethodPost, base+"/sandbox/faults", `{"route":"PUT /access-keys/{id}","status":503,"times":1}`)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = call(t, s, http.MethodPut, s.APIURL()+"/access-keys/k1", "")
	require.Equal(t, http.StatusServiceUnavailable, status)
	status, _ = call(t, s, http.MethodPut, s.APIURL()+"/access-keys/k1", "")
	require.Equal(t, http.StatusCreated, status)

	status, body := call(t, s, http.MethodGet, base+"/sandbox/keys", "")
	require.Equal(t, http.StatusOK, status)
	keys := decode[[]outline.Key](t, body)
	require.Len(t, keys, 1)
	require.Equal(t, "k1", keys[0].ID)

	status, _ = call(t, s, http.MethodPost, base+"/sandbox/faults", `{"hang":true,"latency":"10ms"}`)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = call(t, s, http.MethodDelete, base+"/sandbox/faults", "")
	require.Equal(t, http.StatusNoContent, status)
	status, _ = call(t, s, http.MethodGet, s.APIURL()+"/access-keys/k1", "")
	require.Equal(t, http.StatusOK, status, "faults were cleared")

	status, _ = call(t, s, http.MethodPost, base+"/sandbox/faults", `{"latency":"soon"}`)
	require.Equal(t, http.StatusBadRequest, status)
}
