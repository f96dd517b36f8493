package remnawave_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/sandbox/remnawave"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const token = "test-api-token"

// env is a started sandbox and an HTTP client of the test's own.
type env struct {
	t      *testing.T
	s      *remnawave.Server
	client *http.Client
}

func start(t *testing.T, cfg remnawave.Config) *env {
	t.Helper()
	cfg.Token = token
	s := remnawave.New(cfg)
	require.NoError(t, s.Start("127.0.0.1:0"))
	tr := &http.Transport{}
	t.Cleanup(func() {
		s.Close()
		tr.CloseIdleConnections()
	})
	return &env{t: t, s: s, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// call sends a request with the given bearer token ("" for none) and returns
// the status and the body.
func (e *env) call(bearer, method, path, body string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.s.URL()+path, strings.NewReader(body))
	require.NoError(e.t, err)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, string(data)
}

func (e *env) api(method, path, body string) (int, string) {
	e.t.Helper()
	return e.call(token, method, path, body)
}

func decode[T any](t *testing.T, raw string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(raw), &v), raw)
	return v
}

// user is the part of a user answer the tests read.
type user struct {
	UUID                 string `json:"uuid"`
	ShortUUID            string `json:"shortUuid"`
	Username             string `json:"username"`
	Status               string `json:"status"`
	ExpireAt             string `json:"expireAt"`
	SubscriptionURL      string `json:"subscriptionUrl"`
	ActiveInternalSquads []struct {
		UUID string `json:"uuid"`
	} `json:"activeInternalSquads"`
	UserTraffic *struct {
		UsedTrafficBytes int64 `json:"usedTrafficBytes"`
	} `json:"userTraffic"`
}

type envelope[T any] struct {
	Response T `json:"response"`
}

type panelError struct {
	Message   string `json:"message"`
	ErrorCode string `json:"errorCode"`
	Path      string `json:"path"`
}

func (e *env) create(username, expireAt string) user {
	e.t.Helper()
	status, body := e.api(http.MethodPost, "/api/users", `{"username":"`+username+`","expireAt":"`+expireAt+`"}`)
	require.Equal(e.t, http.StatusCreated, status, body)
	return decode[envelope[user]](e.t, body).Response
}

func TestBearerTokenIsRequired(t *testing.T) {
	t.Parallel()
	e := start(t, remnawave.Config{})

	for _, bearer := range []string{"", "wrong-token"} {
		status, body := e.call(bearer, http.MethodGet, "/api/users", "")
		require.Equal(t, http.StatusUnauthorized, status)
		require.Equal(t, "Unauthorized", decode[panelError](t, body).Message)
	}
	status, _ := e.call(token, http.MethodGet, "/api/users", "")
	require.Equal(t, http.StatusOK, status)

	status, body := e.api(http.MethodGet, "/api/nodes", "")
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, "Cannot GET /api/nodes", decode[panelError](t, body).Message)
	require.Empty(t, decode[panelError](t, body).ErrorCode, "a missing route has no panel error code")
}

func TestCreateAnswersThePanelsUser(t *testing.T) {
	t.Parallel()
	e := start(t, remnawave.Config{})

	status, body := e.api(http.MethodPost, "/api/users", `{"username":"alice_1","expireAt":"2031-02-03T04:05:06.789+03:00",`+
		`"activeInternalSquads":["1b5b6c1e-9a3e-4a8f-8b0e-2f1d3c4b5a69"],"description":"note"}`)
	require.Equal(t, http.StatusCreated, status, body)
	u := decode[envelope[user]](t, body).Response
	require.Len(t, u.UUID, 36)
	require.Equal(t, "alice_1", u.Username)
	require.Equal(t, remnawave.StatusActive, u.Status)
	require.Equal(t, "2031-02-03T01:05:06.789Z", u.ExpireAt, "ISO in UTC with milliseconds, as the panel answers")
	require.Equal(t, e.s.URL()+"/api/sub/"+u.ShortUUID, u.SubscriptionURL)
	require.Len(t, u.ActiveInternalSquads, 1)
	require.NotNil(t, u.UserTraffic)

	status, body = e.api(http.MethodGet, "/api/users/by-username/alice_1", "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, u, decode[envelope[user]](t, body).Response)
	status, body = e.api(http.MethodGet, "/api/users/"+u.UUID, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, u, decode[envelope[user]](t, body).Response)

	got, ok := e.s.User("alice_1")
	require.True(t, ok)
	require.Equal(t, "note", *got.Description)
}

func TestCreateValidatesLikeThePanel(t *testing.T) {
	t.Parallel()
	e := start(t, remnawave.Config{SubscriptionBaseURL: "https://sub.example.com"})
	long := strings.Repeat("u", 37)
	for name, body := range map[string]string{
		"bad characters": `{"username":"al ice","expireAt":"2031-01-01T00:00:00Z"}`,
		"too long":       `{"username":"` + long + `","expireAt":"2031-01-01T00:00:00Z"}`,
		"too short":      `{"username":"al","expireAt":"2031-01-01T00:00:00Z"}`,
		"no expiry":      `{"username":"alice"}`,
		"bad expiry":     `{"username":"alice","expireAt":"tomorrow"}`,
		"bad squad":      `{"username":"alice","expireAt":"2031-01-01T00:00:00Z","activeInternalSquads":["x"]}`,
		"bad strategy":   `{"username":"alice","expireAt":"2031-01-01T00:00:00Z","trafficLimitStrategy":"HOURLY"}`,
		"not JSON":       `{`,
	} {
		status, resp := e.api(http.MethodPost, "/api/users", body)
		require.Equal(t, http.StatusBadRequest, status, name)
		require.Equal(t, "Validation failed", decode[panelError](t, resp).Message, name)
	}
	require.Empty(t, e.s.Users())

	u := e.create(strings.Repeat("u", 36), "2031-01-01T00:00:00Z")
	require.Equal(t, "https://sub.example.com/"+u.ShortUUID, u.SubscriptionURL)
	status, body := e.api(http.MethodPost, "/api/users", `{"username":"`+u.Username+`","expireAt":"2032-01-01T00:00:00Z"}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, panelError{Message: "User username already exists", ErrorCode: "A019", Path: "/api/users"},
		decode[panelError](t, body))
	require.Len(t, e.s.Users(), 1)
}

func TestUpdateDisableEnableDelete(t *testing.T) {
	t.Parallel()
	e := start(t, remnawave.Config{})
	u := e.create("bob", "2031-01-01T00:00:00.000Z")

	status, body := e.api(http.MethodPatch, "/api/users", `{"uuid":"`+u.UUID+`","expireAt":"2020-01-01T00:00:00Z"}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "Expiration date cannot be in the past")
	status, _ = e.api(http.MethodPatch, "/api/users", `{"uuid":"`+u.UUID+`","status":"EXPIRED"}`)
	require.Equal(t, http.StatusBadRequest, status)
	status, _ = e.api(http.MethodPatch, "/api/users", `{"expireAt":"2032-01-01T00:00:00Z"}`)
	require.Equal(t, http.StatusBadRequest, status, "neither uuid nor username")

	status, body = e.api(http.MethodPatch, "/api/users", `{"username":"bob","expireAt":"2032-05-06T07:08:09Z"}`)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "2032-05-06T07:08:09.000Z", decode[envelope[user]](t, body).Response.ExpireAt)

	disable := "/api/users/" + u.UUID + "/actions/disable"
	enable := "/api/users/" + u.UUID + "/actions/enable"
	status, body = e.api(http.MethodPost, enable, "")
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "A030", decode[panelError](t, body).ErrorCode)
	status, body = e.api(http.MethodPost, disable, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, remnawave.StatusDisabled, decode[envelope[user]](t, body).Response.Status)
	status, body = e.api(http.MethodPost, disable, "")
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "A029", decode[panelError](t, body).ErrorCode)
	status, _ = e.api(http.MethodPost, enable, "")
	require.Equal(t, http.StatusOK, status)
	got, _ := e.s.User("bob")
	require.Equal(t, remnawave.StatusActive, got.Status)

	status, body = e.api(http.MethodDelete, "/api/users/"+u.UUID, "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"response":{"isDeleted":true}}`, body)
	for _, req := range [][2]string{
		{http.MethodDelete, "/api/users/" + u.UUID},
		{http.MethodGet, "/api/users/" + u.UUID},
		{http.MethodGet, "/api/users/by-username/bob"},
		{http.MethodPost, disable},
	} {
		status, body = e.api(req[0], req[1], "")
		require.Equal(t, http.StatusNotFound, status, req)
		require.Equal(t, "A025", decode[panelError](t, body).ErrorCode, req)
	}
	status, _ = e.api(http.MethodPatch, "/api/users", `{"uuid":"`+u.UUID+`","status":"ACTIVE"}`)
	require.Equal(t, http.StatusNotFound, status)
	require.Empty(t, e.s.Users())
}

func TestUserPastExpiryReadsExpired(t *testing.T) {
	t.Parallel()
	e := start(t, remnawave.Config{})
	u := e.create("carol", time.Now().Add(-time.Minute).UTC().Format(time.RFC3339))
	require.Equal(t, remnawave.StatusExpired, u.Status)

	status, _ := e.api(http.MethodPatch, "/api/users", `{"uuid":"`+u.UUID+`","expireAt":"`+
		time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`)
	require.Equal(t, http.StatusOK, status)
	got, _ := e.s.User("carol")
	require.Equal(t, remnawave.StatusActive, got.Status, "a new expiry in the future makes it active again")
}

func TestListPages(t *testing.T) {
	t.Parallel()
	e := start(t, remnawave.Config{})
	for _, name := range []string{"u_1", "u_2", "u_3"} {
		e.create(name, "2031-01-01T00:00:00Z")
	}
	type page struct {
		Users []user `json:"users"`
		Total int    `json:"total"`
	}
	status, body := e.api(http.MethodGet, "/api/users?start=0&size=2", "")
	require.Equal(t, http.StatusOK, status)
	p := decode[envelope[page]](t, body).Response
	require.Equal(t, 3, p.Total)
	require.Len(t, p.Users, 2)
	require.Equal(t, "u_1", p.Users[0].Username)

	status, body = e.api(http.MethodGet, "/api/users?start=2&size=2", "")
	require.Equal(t, http.StatusOK, status)
	p = decode[envelope[page]](t, body).Response
	require.Len(t, p.Users, 1)
	require.Equal(t, "u_3", p.Users[0].Username)

	for _, q := range []string{"size=0", "size=1001", "start=-1"} {
		status, _ = e.api(http.MethodGet, "/api/users?"+q, "")
		require.Equal(t, http.StatusBadRequest, status, q)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	e := start(t, remnawave.Config{})

	e.s.Inject(remnawave.Fault{Route: "POST /api/users", Status: http.StatusInternalServerError, Times: 1})
	status, _ := e.api(http.MethodPost, "/api/users", `{"username":"dave","expireAt":"2031-01-01T00:00:00Z"}`)
	require.Equal(t, http.StatusInternalServerError, status)
	require.Empty(t, e.s.Users(), "a failed call does nothing")

	e.s.Inject(remnawave.Fault{Route: "POST /api/users", ServeFirst: true, Status: http.StatusBadGateway, Times: 1})
	status, _ = e.api(http.MethodPost, "/api/users", `{"username":"dave","expireAt":"2031-01-01T00:00:00Z"}`)
	require.Equal(t, http.StatusBadGateway, status)
	require.Len(t, e.s.Users(), 1, "served before the reply was lost")

	e.s.Inject(remnawave.Fault{Route: "GET /api/users", Latency: 150 * time.Millisecond, Times: 1})
	began := time.Now()
	status, _ = e.api(http.MethodGet, "/api/users", "")
	require.Equal(t, http.StatusOK, status)
	require.GreaterOrEqual(t, time.Since(began), 150*time.Millisecond)
	require.Equal(t, 2, e.s.Requests("POST /api/users"))
	require.Equal(t, 3, e.s.Requests(""))

	e.s.Inject(remnawave.Fault{Hang: true})
	done := make(chan int, 1)
	go func() {
		status, _ := e.api(http.MethodGet, "/api/users", "")
		done <- status
	}()
	require.Eventually(t, func() bool { return e.s.Requests("GET /api/users") == 2 }, 5*time.Second, 5*time.Millisecond)
	require.Never(t, func() bool { return len(done) > 0 }, 100*time.Millisecond, 5*time.Millisecond)
	e.s.ClearFaults()
	select {
	case status := <-done:
		require.Equal(t, http.StatusOK, status)
	case <-time.After(5 * time.Second):
		t.Fatal("hung call was not released by ClearFaults")
	}
}

func TestCloseReleasesHangingCalls(t *testing.T) {
	t.Parallel()
	e := start(t, remnawave.Config{})
	e.s.Inject(remnawave.Fault{Hang: true})
	done := make(chan error, 1)
	go func() {
		resp, err := e.client.Get(e.s.URL() + "/api/users")
		if err == nil {
			err = resp.Body.Close()
		}
		done <- err
	}()
	require.Eventually(t, func() bool { return e.s.Requests("") == 1 }, 5*time.Second, 5*time.Millisecond)

	closed := make(chan struct{})
	go func() {
		e.s.Close()
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
	e := start(t, remnawave.Config{})

	status, _ := e.call("", http.MethodPost, "/sandbox/faults", `{"route":"POST /api/users","status":503,"times":1}`)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = e.api(http.MethodPost, "/api/users", `{"username":"erin","expireAt":"2031-01-01T00:00:00Z"}`)
	require.Equal(t, http.StatusServiceUnavailable, status)
	e.create("erin", "2031-01-01T00:00:00Z")

	status, body := e.call("", http.MethodGet, "/sandbox/users", "")
	require.Equal(t, http.StatusOK, status)
	users := decode[[]remnawave.User](t, body)
	require.Len(t, users, 1)
	require.Equal(t, "erin", users[0].Username)

	status, _ = e.call("", http.MethodPost, "/sandbox/faults", `{"latency":250}`)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = e.call("", http.MethodDelete, "/sandbox/faults", "")
	require.Equal(t, http.StatusNoContent, status)
	began := time.Now()
	status, _ = e.api(http.MethodGet, "/api/users", "")
	require.Equal(t, http.StatusOK, status)
	require.Less(t, time.Since(began), 250*time.Millisecond, "faults were cleared")
}
