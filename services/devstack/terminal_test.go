package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/procs"
	"github.com/vpnbot/vpnbot/pkg/worker"
)

// clock is the time of the lines in these tests, as the console shows it.
var clock = time.Date(2026, 12, 7, 4, 3, 49, 0, time.UTC)

func shownAt(ts time.Time) string { return ts.Local().Format(time.TimeOnly) }

// TestTheConsoleShowsWhatAPersonFollows feeds make run's console the lines
// the services write, named as the Stack names them: each warning and
// error, the events that follow a user's actions, and what is not a log
// line at all (a panic) are shown, one line each; a service's start-up
// lines and its workers' iterations are not.
func TestTheConsoleShowsWhatAPersonFollows(t *testing.T) {
	var out bytes.Buffer
	term := newTerminal(&out)
	term.now = func() time.Time { return clock }
	at := clock.Format(time.RFC3339Nano)
	for _, l := range []struct{ source, line string }{
		{"gateway", `{"level":"info","service":"gateway","instance":"gateway","event":"SERVICE_START","time":"` + at + `","message":"starting"}`},
		{"gateway", `{"level":"info","service":"gateway","instance":"gateway","event":"CONFIG","HTTP_ADDR":"127.0.0.1:8081","time":"` + at + `","message":"configuration"}`},
		{"activation", `{"level":"info","service":"activation","instance":"activation","worker":"activation","iteration":2,"event":"` + worker.EventIterationStart + `","time":"` + at + `","message":"iteration started"}`},
		{"activation", `{"level":"info","service":"activation","instance":"activation","worker":"activation","iteration":2,"event":"` + worker.EventIterationEnd + `","outcome":"ok","items":{},"time":"` + at + `","message":"iteration ended"}`},
		{"bot-handler-0", `{"level":"info","service":"bot-handler","instance":"bot-handler-0","update_id":7,"chat_id":42,"event":"` + obs.EventUpdateHandled + `","kind":"start","time":"` + at + `","message":"update handled"}`},
		{"activation", `{"level":"info","service":"activation","instance":"activation","subscription_id":1,"user_id":42,"event":"KEY_DELIVERED","dedup_id":"key:1:66","time":"` + at + `","message":"key handed to the sender"}`},
		{"payment-watcher", `{"level":"info","service":"payment-watcher","instance":"payment-watcher","event":"PAYMENT_APPLIED","source":"webhook","time":"` + at + `","message":"payment applied"}`},
		{"reminders", `{"level":"info","service":"reminders","instance":"reminders","event":"REMINDER_SENT","stage":"10m","time":"` + at + `","message":"reminder handed to the sender"}`},
		{"sender", `{"level":"warn","service":"sender","instance":"sender","error":"telegram: 502 Bad Gateway","attempt":2,"time":"` + at + `","message":"send failed; retrying"}`},
		{"activation", `{"level":"error","service":"activation","instance":"activation","worker":"activation","event":"` + worker.EventIterationEnd + `","outcome":"error","error":"1 of 1 activations failed","time":"` + at + `","message":"iteration ended"}`},
		{"sender", `panic: boom`},
	} {
		_, err := term.Write([]byte(procs.FormatLine(l.source, []byte(l.line)) + "\n"))
		require.NoError(t, err)
	}
	when := shownAt(clock)
	require.Equal(t, []string{
		when + " bot-handler-0   UPDATE_HANDLED update handled · update_id=7 chat_id=42 kind=start",
		when + " activation      KEY_DELIVERED key handed to the sender · subscription_id=1 user_id=42 dedup_id=key:1:66",
		when + " payment-watcher PAYMENT_APPLIED payment applied · source=webhook",
		when + " reminders       REMINDER_SENT reminder handed to the sender · stage=10m",
		when + ` sender          WARN send failed; retrying · error="telegram: 502 Bad Gateway" attempt=2`,
		when + ` activation      ERROR ITERATION_END iteration ended · worker=activation outcome=error error="1 of 1 activations failed"`,
		when + " sender          panic: boom",
	}, strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"))
}

// TestTheDevstacksOwnLogGoesWholeToItsFile is the devstack's own logger on
// make run's console: every line in devstack.log, and on the console all
// but its configuration, each service's start among them.
func TestTheDevstacksOwnLogGoesWholeToItsFile(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	term, log, closeLog, err := openConsole(&out, zerolog.New(nil).With().Str("service", "devstack").Str("instance", "local").Logger(), dir)
	require.NoError(t, err)
	log.Info().Str("event", obs.EventConfig).Str("DATABASE_URL", "postgres://x").Msg("configuration")
	log.Info().Str("component", "localstack").Str("service", "gateway").Int("pid", 25186).Str("ops", "http://127.0.0.1:9101").Msg("service ready")
	log.Warn().Str("event", "NATS_DISCONNECTED").Msg("lost the connection to NATS; reconnecting")
	require.NoError(t, closeLog())
	require.NoError(t, term.welcome([]byte("\nvpnbot is running\n"), dir))

	file, err := os.ReadFile(filepath.Join(dir, "devstack.log"))
	require.NoError(t, err)
	require.Len(t, strings.Split(strings.TrimSuffix(string(file), "\n"), "\n"), 3, "every line in the file:\n%s", file)
	require.Contains(t, string(file), `"event":"CONFIG"`)
	shown := out.String()
	require.NotContains(t, shown, "CONFIG", "the configuration stays in the file")
	require.Contains(t, shown, "devstack        service ready · component=localstack service=gateway pid=25186 ops=http://127.0.0.1:9101\n",
		"a service's start, with the field the logger's own service field does not hide")
	require.Contains(t, shown, "devstack        WARN NATS_DISCONNECTED lost the connection to NATS; reconnecting\n")
	require.True(t, strings.HasSuffix(shown, "\nvpnbot is running\n"), "the welcome text, as it is")
	welcome, err := os.ReadFile(filepath.Join(dir, welcomeFile))
	require.NoError(t, err)
	require.Equal(t, "\nvpnbot is running\n", string(welcome), "kept for whoever lost it")
}

// TestFollowedEventsAreWhatTheServicesLog keeps the console's list true: a
// followed event renamed in its service would vanish from the console
// without a word, so each must still be a string the services' code holds.
func TestFollowedEventsAreWhatTheServicesLog(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)
	root, err := procs.Root(wd)
	require.NoError(t, err)
	constant := regexp.MustCompile(`"([A-Z][A-Z_]+)"`)
	defined := map[string]bool{}
	for _, tree := range []string{"pkg", "services"} {
		err := filepath.WalkDir(filepath.Join(root, tree), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
				strings.HasPrefix(path, filepath.Join(root, "services", "devstack")) {
				return err
			}
			src, err := os.ReadFile(path)
			for _, m := range constant.FindAllSubmatch(src, -1) {
				defined[string(m[1])] = true
			}
			return err
		})
		require.NoError(t, err)
	}
	for ev := range followed {
		require.True(t, defined[ev], "no service logs event %s", ev)
	}
}

// The welcome text names the log folder as a person at the repository finds
// it: .data/logs rather than its whole path; a folder elsewhere whole.
func TestShortPathIsRelativeBelowTheWorkingDirectoryOnly(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(".data", "logs"), shortPath(filepath.Join(wd, ".data", "logs")))
	outside := filepath.Join(filepath.Dir(wd), "elsewhere", "logs")
	require.Equal(t, outside, shortPath(outside))
}
