package outline_test

import (
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/outline"
)

// createKey creates the key id with body and returns its ss:// URL.
func createKey(t *testing.T, s *outline.Server, id, body string) string {
	t.Helper()
	status, raw := call(t, s, http.MethodPut, s.APIURL()+"/access-keys/"+id, body)
	require.Equal(t, http.StatusCreated, status, raw)
	return decode[map[string]any](t, raw)["accessUrl"].(string)
}

func TestKeyWorksUntilBlockedDeletedOrReplaced(t *testing.T) {
	t.Parallel()
	s := start(t, outline.Config{})
	api := s.APIURL()
	link := createKey(t, s, "k1", `{"name":"k1"}`)
	require.True(t, s.KeyWorks(link))
	require.False(t, s.KeyWorks("ss://bm9uZTpub25l@127.0.0.1:8388/?outline=1"), "a key the server never made")
	require.False(t, s.KeyWorks("https://example.com"))

	status, _ := call(t, s, http.MethodPut, api+"/access-keys/k1/data-limit", `{"limit":{"bytes":0}}`)
	require.Equal(t, http.StatusNoContent, status)
	require.False(t, s.KeyWorks(link), "a limit of 0 blocks the key at once")
	status, _ = call(t, s, http.MethodPut, api+"/access-keys/k1/data-limit", `{"limit":{"bytes":1000}}`)
	require.Equal(t, http.StatusNoContent, status)
	require.True(t, s.KeyWorks(link))
	require.True(t, s.Transfer("k1", 999))
	require.True(t, s.KeyWorks(link))
	require.True(t, s.Transfer("k1", 1))
	require.False(t, s.KeyWorks(link), "the key used up its limit")
	status, body := call(t, s, http.MethodGet, api+"/metrics/transfer", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"bytesTransferredByUserId":{"k1":1000}}`, body)
	status, _ = call(t, s, http.MethodDelete, api+"/access-keys/k1/data-limit", "")
	require.Equal(t, http.StatusNoContent, status)
	require.True(t, s.KeyWorks(link), "without a limit the key works again")

	status, _ = call(t, s, http.MethodDelete, api+"/access-keys/k1", "")
	require.Equal(t, http.StatusNoContent, status)
	require.False(t, s.KeyWorks(link), "a deleted key's URL")
	again := createKey(t, s, "k1", `{"name":"k1"}`)
	require.NotEqual(t, link, again, "a key made again has a new password")
	require.False(t, s.KeyWorks(link), "the replaced key's URL")
	require.True(t, s.KeyWorks(again))

	base := api[:strings.LastIndex(api, "/")]
	status, body = call(t, s, http.MethodPost, base+"/sandbox/connect", `{"accessUrl":"`+again+`"}`)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"works":true}`, body)
	status, body = call(t, s, http.MethodPost, base+"/sandbox/connect", `{"accessUrl":"`+link+`"}`)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"works":false}`, body)
	status, _ = call(t, s, http.MethodPost, base+"/sandbox/connect", `{}`)
	require.Equal(t, http.StatusBadRequest, status)
}

func TestDriftChangesKeysBehindTheBotsBack(t *testing.T) {
	t.Parallel()
	s := start(t, outline.Config{})
	one := createKey(t, s, "vpnbot_u1", `{"name":"vpnbot_u1"}`)
	two := createKey(t, s, "7", `{"name":"made by hand"}`)
	require.Equal(t, 2, s.Accounts())

	require.True(t, s.DriftDisable("vpnbot_u1"))
	k, _ := s.Key("vpnbot_u1")
	require.Equal(t, int64(0), *k.DataLimit)
	require.False(t, s.KeyWorks(one))
	require.True(t, s.DriftExpiry("made by hand", time.Now()), "found by its name")
	require.True(t, s.KeyWorks(two), "Outline has no expiry: nothing changed")
	require.True(t, s.DriftDelete("made by hand"))
	require.False(t, s.KeyWorks(two))
	require.Equal(t, 1, s.Accounts())

	for _, drift := range []func(string) bool{s.DriftDelete, s.DriftDisable,
		func(n string) bool { return s.DriftExpiry(n, time.Now()) },
		func(n string) bool { return s.Transfer(n, 1) }} {
		require.False(t, drift("vpnbot_u2"), "no such key")
	}
}

// startAt starts a server on addr for cfg, closed when the test ends.
func startAt(t *testing.T, cfg outline.Config, addr string) *outline.Server {
	t.Helper()
	s, err := outline.New(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Start(addr))
	t.Cleanup(s.Close)
	return s
}

// TestRestartKeepsKeysAndIdentity is the sandbox stopped and started again
// on its state folder, as make run does: it answers at the same API URL
// with the same certificate, lists the same keys, their URLs still work
// (or stay blocked), and numeric ids go on from where they were.
func TestRestartKeepsKeysAndIdentity(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := startAt(t, outline.Config{StateDir: dir}, "127.0.0.1:0")
	working := createKey(t, first, "vpnbot_u1", `{"name":"vpnbot_u1","limit":{"bytes":5000}}`)
	blocked := createKey(t, first, "vpnbot_u2", `{"name":"vpnbot_u2","limit":{"bytes":0}}`)
	require.True(t, first.Transfer("vpnbot_u1", 100))
	status, _ := call(t, first, http.MethodPost, first.APIURL()+"/access-keys", "")
	require.Equal(t, http.StatusCreated, status)
	status, before := call(t, first, http.MethodGet, first.APIURL()+"/access-keys", "")
	require.Equal(t, http.StatusOK, status)
	apiURL, pin := first.APIURL(), first.CertSHA256()
	first.Close()

	second := startAt(t, outline.Config{StateDir: dir}, "127.0.0.1:0")
	require.Equal(t, apiURL, second.APIURL(), "the API URL services were configured with")
	require.Equal(t, pin, second.CertSHA256(), "the certificate services pinned")
	status, after := call(t, second, http.MethodGet, second.APIURL()+"/access-keys", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, before, after, "the keys changed across the restart")
	require.True(t, second.KeyWorks(working))
	require.False(t, second.KeyWorks(blocked))
	k, _ := second.Key("vpnbot_u1")
	require.Equal(t, int64(100), k.UsedBytes, "the traffic was lost")
	status, body := call(t, second, http.MethodPost, second.APIURL()+"/access-keys", "")
	require.Equal(t, http.StatusCreated, status)
	require.Equal(t, "1", decode[map[string]any](t, body)["id"], "numeric ids went back")
}

// TestRestartOnATakenPortMovesTheAPI is the port of the last run held by
// another process: the server starts on a new one rather than not at all.
func TestRestartOnATakenPortMovesTheAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := startAt(t, outline.Config{StateDir: dir}, "127.0.0.1:0")
	link := createKey(t, first, "k", "")
	u, err := url.Parse(first.APIURL())
	require.NoError(t, err)
	first.Close()
	ln, err := net.Listen("tcp", u.Host)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })

	second := startAt(t, outline.Config{StateDir: dir}, "127.0.0.1:0")
	require.NotEqual(t, first.APIURL(), second.APIURL())
	require.True(t, second.KeyWorks(link))
}

// TestAChangeThatCannotBeSavedIsRefusedAndUndone is a state folder that
// cannot be written: a create answers 500 and makes no key, so no key is
// handed out that a restart would lose.
func TestAChangeThatCannotBeSavedIsRefusedAndUndone(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	s := startAt(t, outline.Config{StateDir: dir}, "127.0.0.1:0")
	kept := createKey(t, s, "kept", "")
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.WriteFile(dir, []byte("not a folder"), 0o600))

	status, body := call(t, s, http.MethodPut, s.APIURL()+"/access-keys/lost", `{"name":"lost"}`)
	require.Equal(t, http.StatusInternalServerError, status, body)
	status, _ = call(t, s, http.MethodDelete, s.APIURL()+"/access-keys/kept", "")
	require.Equal(t, http.StatusInternalServerError, status)
	require.False(t, s.DriftDisable("kept"))
	require.Len(t, s.Keys(), 1, "the refused key exists, or the refused delete happened")
	require.True(t, s.KeyWorks(kept), "the refused disable happened")

	require.NoError(t, os.Remove(dir))
	createKey(t, s, "saved", "")
	require.Len(t, s.Keys(), 2)
}

func TestAnUnreadableStateIsNotStartedOver(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "state.json"), []byte(`{"keys": [`), 0o600))
	_, err := outline.New(outline.Config{StateDir: dir})
	require.ErrorContains(t, err, "state.json")
}
