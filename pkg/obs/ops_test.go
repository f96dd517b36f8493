package obs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, err := io.ReadAll(rec.Result().Body)
	require.NoError(t, err)
	return rec.Code, string(body)
}

func TestOpsReportsChecksAndLogsLivenessFailureOnce(t *testing.T) {
	var logs bytes.Buffer
	log, err := obs.NewLogger(&logs, "test", "i1", "info")
	require.NoError(t, err)
	ops := obs.NewOps(log)
	var dbDown, stalled bool
	ops.AddReadiness("postgres", func(context.Context) error {
		if dbDown {
			return errors.New("connection refused")
		}
		return nil
	})
	ops.AddLiveness("consumer", func(context.Context) error {
		if stalled {
			return errors.New("no progress for 2m")
		}
		return nil
	})
	h := ops.Handler()

	code, _ := get(t, h, "/livez")
	require.Equal(t, http.StatusOK, code)
	code, _ = get(t, h, "/readyz")
	require.Equal(t, http.StatusOK, code)

	dbDown, stalled = true, true
	code, body := get(t, h, "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "postgres: connection refused")
	for range 3 {
		code, body = get(t, h, "/livez")
		require.Equal(t, http.StatusServiceUnavailable, code)
		require.Contains(t, body, "consumer: no progress")
	}
	require.Equal(t, 1, strings.Count(logs.String(), obs.EventLivenessCheckFailed), logs.String())
	require.Contains(t, logs.String(), `"service":"test"`)
	require.Contains(t, logs.String(), `"instance":"i1"`)
	require.Contains(t, logs.String(), `"time":"`)

	code, body = get(t, h, "/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "go_goroutines")
}

func TestHeartbeatFailsWhenStale(t *testing.T) {
	hb := obs.NewHeartbeat(50 * time.Millisecond)
	require.NoError(t, hb.Check(context.Background()))
	require.Eventually(t, func() bool { return hb.Check(context.Background()) != nil }, time.Second, 10*time.Millisecond)
	hb.Beat()
	require.NoError(t, hb.Check(context.Background()))
}

func TestNewLoggerRejectsUnknownLevel(t *testing.T) {
	_, err := obs.NewLogger(nil, "test", "i1", "loud")
	require.ErrorContains(t, err, "LOG_LEVEL")
}
