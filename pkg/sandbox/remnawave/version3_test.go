package remnawave_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/remnawave"
)

// v3user is the part of a 3.x user answer the tests read.
type v3user struct {
	UUID            *string `json:"uuid"`
	ID              int64   `json:"id"`
	ShortUUID       string  `json:"shortUuid"`
	Username        string  `json:"username"`
	Status          string  `json:"status"`
	SubscriptionURL string  `json:"subscriptionUrl"`
}

func (e *env) createV3(username string) v3user {
	e.t.Helper()
	status, body := e.api(http.MethodPost, "/api/users", `{"username":"`+username+`","expireAt":"2031-01-01T00:00:00Z"}`)
	require.Equal(e.t, http.StatusCreated, status, body)
	return decode[envelope[v3user]](e.t, body).Response
}

// fetch GETs a subscription URL without the token, as a VPN app does.
func (e *env) fetch(url string) (int, []byte) {
	e.t.Helper()
	resp, err := e.client.Get(url)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, body
}

func TestMetadataTellsTheVersion(t *testing.T) {
	t.Parallel()
	for version, want := range map[int]string{0: "2.8.1", remnawave.Version2: "2.8.1", remnawave.Version3: "3.3.2"} {
		e := start(t, remnawave.Config{Version: version})
		status, body := e.api(http.MethodGet, "/api/system/metadata", "")
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, want, decode[envelope[struct {
			Version string `json:"version"`
		}]](t, body).Response.Version)
		status, _ = e.call("", http.MethodGet, "/api/system/metadata", "")
		require.Equal(t, http.StatusUnauthorized, status)
	}
}

func TestVersion3AddressesUsersByID(t *testing.T) {
	t.Parallel()
	e := start(t, remnawave.Config{Version: remnawave.Version3})
	u := e.createV3("dave")
	require.Nil(t, u.UUID, "3.x users have no uuid")
	require.Positive(t, u.ID)
	saved, _ := e.s.User("dave")
	id := strconv.FormatInt(u.ID, 10)

	status, body := e.api(http.MethodGet, "/api/users/"+id, "")
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "dave", decode[envelope[v3user]](t, body).Response.Username)
	for _, bad := range []string{saved.UUID, "0", "-3"} {
		status, body = e.api(http.MethodGet, "/api/users/"+bad, "")
		require.Equal(t, http.StatusBadRequest, status, "%s: the path must be a positive number", bad)
		require.Contains(t, body, "userId")
	}
	status, _ = e.api(http.MethodGet, "/api/users/999", "")
	require.Equal(t, http.StatusNotFound, status)

	status, body = e.api(http.MethodPatch, "/api/users", `{"uuid":"`+saved.UUID+`","status":"DISABLED"}`)
	require.Equal(t, http.StatusBadRequest, status, "3.x drops the uuid and wants an id or a username")
	require.Contains(t, body, "At least one of username, id")
	status, body = e.api(http.MethodPatch, "/api/users", `{"id":`+id+`,"status":"DISABLED"}`)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, remnawave.StatusDisabled, decode[envelope[v3user]](t, body).Response.Status)
	status, _ = e.api(http.MethodPost, "/api/users/"+id+"/actions/enable", "")
	require.Equal(t, http.StatusOK, status)

	status, body = e.api(http.MethodDelete, "/api/users/"+id, "")
	require.Equal(t, http.StatusNoContent, status)
	require.Empty(t, body)
	status, _ = e.api(http.MethodDelete, "/api/users/"+id, "")
	require.Equal(t, http.StatusNotFound, status)
	require.Zero(t, e.s.Accounts())
}

func TestVersion3StreamsUsersByKeyset(t *testing.T) {
	t.Parallel()
	e := start(t, remnawave.Config{Version: remnawave.Version3})
	for _, name := range []string{"u_1", "u_2", "u_3", "u_4", "u_5"} {
		e.createV3(name)
	}
	type page struct {
		Users      []v3user `json:"users"`
		NextCursor *string  `json:"nextCursor"`
		HasMore    bool     `json:"hasMore"`
	}
	var names []string
	path := "/api/users/stream?size=2"
	for pages := 1; ; pages++ {
		status, body := e.api(http.MethodGet, path, "")
		require.Equal(t, http.StatusOK, status, body)
		p := decode[envelope[page]](t, body).Response
		for _, u := range p.Users {
			names = append(names, u.Username)
		}
		if !p.HasMore {
			require.Nil(t, p.NextCursor)
			require.Equal(t, 3, pages)
			break
		}
		require.Equal(t, strconv.FormatInt(p.Users[len(p.Users)-1].ID, 10), *p.NextCursor, "the cursor is the last id")
		path = "/api/users/stream?size=2&cursor=" + *p.NextCursor
	}
	require.Equal(t, []string{"u_1", "u_2", "u_3", "u_4", "u_5"}, names)

	status, _ := e.api(http.MethodGet, "/api/users/stream?size=1001", "")
	require.Equal(t, http.StatusBadRequest, status)
	e2 := start(t, remnawave.Config{})
	status, _ = e2.api(http.MethodGet, "/api/users/stream", "")
	require.NotEqual(t, http.StatusOK, status, "2.x lists by offset only")
}

func TestSubscriptionAnswersOnlyAnActiveCurrentUser(t *testing.T) {
	t.Parallel()
	for _, version := range []int{remnawave.Version2, remnawave.Version3} {
		e := start(t, remnawave.Config{Version: version})
		u := e.createV3("erin")
		saved, _ := e.s.User("erin")
		key := saved.UUID
		if version == remnawave.Version3 {
			key = strconv.FormatInt(saved.ID, 10)
		}

		status, body := e.fetch(u.SubscriptionURL)
		require.Equal(t, http.StatusOK, status)
		require.True(t, remnawave.SubscriptionWorks(body))
		links, err := base64.StdEncoding.DecodeString(string(body))
		require.NoError(t, err)
		require.Contains(t, string(links), "vless://"+saved.VlessUUID+"@"+remnawave.ProxyHost)

		require.True(t, e.s.DriftDisable("erin"))
		status, body = e.fetch(u.SubscriptionURL)
		require.Equal(t, http.StatusOK, status, "a disabled user gets the panel's placeholder")
		require.False(t, remnawave.SubscriptionWorks(body))

		status, _ = e.api(http.MethodPost, "/api/users/"+key+"/actions/enable", "")
		require.Equal(t, http.StatusOK, status)
		require.True(t, e.s.DriftExpiry("erin", time.Now().Add(-time.Minute)))
		_, body = e.fetch(u.SubscriptionURL)
		require.False(t, remnawave.SubscriptionWorks(body), "an expired user")
		require.True(t, e.s.DriftExpiry("erin", time.Now().Add(time.Hour)))

		status, answer := e.api(http.MethodPost, "/api/users/"+key+"/actions/revoke", "")
		require.Equal(t, http.StatusOK, status, answer)
		rotated := decode[envelope[v3user]](t, answer).Response
		require.NotEqual(t, u.SubscriptionURL, rotated.SubscriptionURL)
		status, _ = e.fetch(u.SubscriptionURL)
		require.Equal(t, http.StatusNotFound, status, "the revoked URL")
		_, body = e.fetch(rotated.SubscriptionURL)
		require.True(t, remnawave.SubscriptionWorks(body), "the new URL")

		require.True(t, e.s.DriftDelete("erin"))
		status, _ = e.fetch(rotated.SubscriptionURL)
		require.Equal(t, http.StatusNotFound, status)
		require.False(t, e.s.DriftDelete("erin"))
		require.False(t, e.s.DriftDisable("erin"))
		require.False(t, e.s.DriftExpiry("erin", time.Now()))
	}
}

func TestStateDirKeepsUsersAndLinksAcrossARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := remnawave.New(remnawave.Config{Token: token, Version: remnawave.Version3, StateDir: dir})
	require.NoError(t, first.Start("127.0.0.1:0"))
	addr := strings.TrimPrefix(first.URL(), "http://")
	e := &env{t: t, s: first, client: &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}}
	t.Cleanup(e.client.CloseIdleConnections)
	a := e.createV3("frank")
	e.createV3("gina")
	status, _ := e.api(http.MethodDelete, "/api/users/"+strconv.FormatInt(a.ID+1, 10), "")
	require.Equal(t, http.StatusNoContent, status)
	first.Close()

	again := remnawave.New(remnawave.Config{Token: token, Version: remnawave.Version3, StateDir: dir})
	require.NoError(t, again.Start(addr))
	t.Cleanup(again.Close)
	e.s = again
	require.Equal(t, 1, again.Accounts())
	got, ok := again.User("frank")
	require.True(t, ok)
	require.Equal(t, a.ID, got.ID)
	status, body := e.fetch(a.SubscriptionURL)
	require.Equal(t, http.StatusOK, status)
	require.True(t, remnawave.SubscriptionWorks(body), "the restarted panel serves the kept link")

	h := e.createV3("hank")
	require.Greater(t, h.ID, a.ID+1, "a deleted user's id is not handed out again")
}

func TestStateDirAfterAKillNeverReusesAnID(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The first change is saved at once, the next not for an hour: the
	// server is then abandoned without Close, as a kill would leave it.
	killed := remnawave.New(remnawave.Config{Token: token, Version: remnawave.Version3, StateDir: dir, SaveInterval: time.Hour})
	require.NoError(t, killed.Start("127.0.0.1:0"))
	t.Cleanup(killed.Close)
	e := &env{t: t, s: killed, client: &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}}
	t.Cleanup(e.client.CloseIdleConnections)
	e.createV3("kept")
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "state.json"))
		return err == nil && strings.Contains(string(b), `"kept"`)
	}, 5*time.Second, 5*time.Millisecond)
	lost := e.createV3("ivan")

	next := remnawave.New(remnawave.Config{Token: token, Version: remnawave.Version3, StateDir: dir})
	require.NoError(t, next.Start("127.0.0.1:0"))
	t.Cleanup(next.Close)
	e.s = next
	require.Equal(t, 1, next.Accounts(), "the kill lost the unsaved user")
	u := e.createV3("ivan")
	require.Greater(t, u.ID, lost.ID, "its id is not handed out again")
}
