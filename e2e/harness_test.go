package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/procs"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// maxStacks bounds the stacks running at once: each is five processes and
// an embedded broker, and the test machine may have only two cores.
const maxStacks = 2

// stackSlots is the semaphore behind maxStacks.
var stackSlots = make(chan struct{}, maxStacks)

// outputTail is how many lines of service output a failed test prints.
const outputTail = 400

// system is one test's running system with what the test inspects it by.
type system struct {
	*localstack.Stack
	t   *testing.T
	out *output
	// db is the test's schema, which the services use too (unless a
	// Proxy stands between them); its Pool is the test's own.
	db *pgdbtest.DB
	js jetstream.JetStream
	// http is the test's own client for the services' HTTP endpoints.
	http *http.Client
	// botID is the bot's id, the first half of every update's Nats-Msg-Id.
	botID int64
}

// options shape a test's system; zero values take stack's defaults.
type options struct {
	botHandlers int
	// workers runs the background workers too, instead of the test
	// playing their part.
	workers bool
	// panels is how many sandbox Outline panels the workers place users
	// on; a test that reads every key from Stack.Outline asks for 1.
	panels int
	// natsNodes runs NATS as a cluster of this many nodes, every stream
	// on all of them.
	natsNodes int
	// telegramLimits has the sandbox Telegram enforce its flood limits
	// (Telegram's: a message a second to a chat, bursts of three, 30 a
	// second in all), and the services pace themselves to them, instead of
	// both being unlimited.
	telegramLimits bool
	env            []string
	// panelEnv is the VPN panel environment of activation and
	// expiry-cleanup (localstack.Config.PanelEnv) instead of the stack's
	// sandbox Outline.
	panelEnv []string
	// databaseURL, when set, gives the services' DATABASE_URL for the
	// test's schema (e.g. through a pgdbtest.Proxy).
	databaseURL func(db *pgdbtest.DB) string
	// adminIDs are the bot's admins (ADMIN_IDS).
	adminIDs []int64
	// traces has the services export every trace to the stack's receiver
	// (localstack.Config.Traces), as make run does.
	traces bool
}

// start gives the test a system of its own on a fresh schema, waiting for a
// free slot first. The system is closed when the test ends, and closing it
// must succeed: every service has to stop cleanly on SIGTERM. On failure the
// services' output is printed.
func start(t *testing.T, o options) *system {
	t.Helper()
	db := pgdbtest.New(t)

	select {
	case stackSlots <- struct{}{}:
	case <-t.Context().Done():
		t.Fatal("test ended waiting for a stack slot")
	}
	t.Cleanup(func() { <-stackSlots })

	out := &output{}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("E2E_DEBUG") != "" {
			t.Logf("last %d lines of service output:\n%s", outputTail, out.tail(outputTail))
		}
	})
	dsn := db.DSN
	if o.databaseURL != nil {
		dsn = o.databaseURL(db)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	// Unlimited (-1) unless asked for; 0 takes the sandbox's defaults.
	limit := -1.0
	if o.telegramLimits {
		limit = 0
	}
	s, err := localstack.Start(ctx, localstack.Config{
		Dir:         t.TempDir(),
		BinDir:      binDir,
		Prebuilt:    true,
		DatabaseURL: dsn,
		BotHandlers: o.botHandlers,
		NATSNodes:   o.natsNodes,
		// Each NATS node runs as a process of its own, as in production
		// (and KillNATSNode can kill it): inside this test binary the race
		// detector would watch the server's own code, whose races are not
		// ours to fix (nats-server 2.15 updates a stream's store while it
		// creates a consumer on it).
		NATSProcesses: true,
		Workers:       o.workers,
		Panels:        o.panels,
		GlobalRate:    limit,
		ChatRate:      limit,
		PanelEnv:      o.panelEnv,
		AdminIDs:      o.adminIDs,
		Traces:        o.traces,
		Env:           o.env,
		Output:        out,
	})
	require.NoError(t, err, "starting the stack")
	t.Logf("stack started in %s", time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() {
		began := time.Now()
		if err := s.Close(); err != nil {
			t.Errorf("closing the stack: %v", err)
		}
		t.Logf("stack closed in %s", time.Since(began).Round(time.Millisecond))
	})
	botID, err := telegram.BotID(localstack.DefaultToken)
	require.NoError(t, err)
	_, js := bustest.Connect(t, s.NATSURL)
	client := &http.Client{Timeout: 15 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	return &system{Stack: s, t: t, out: out, db: db, js: js, http: client, botID: botID}
}

// msgID is the Nats-Msg-Id the gateway gives update updateID.
func (s *system) msgID(updateID int64) string {
	return fmt.Sprintf("%d:%d", s.botID, updateID)
}

// waitReplies waits until each chat has at least n messages from the bot.
func (s *system) waitReplies(timeout time.Duration, n int, chats ...int64) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), timeout)
	defer cancel()
	for _, chat := range chats {
		_, err := s.Sandbox.WaitMessages(ctx, chat, n)
		require.NoError(s.t, err, "waiting for the bot's replies")
	}
}

// waitSettled waits until nothing is left in flight: the sandbox has
// delivered every update (so the gateway has stored each one) and
// TG_UPDATES is empty (it is a work queue, so every update was acknowledged
// or given up). Only then are the chats final, and a count of replies can
// tell a double from one still on its way.
func (s *system) waitSettled(timeout time.Duration) {
	s.t.Helper()
	var pending int
	var stored uint64
	var err error
	require.Eventually(s.t, func() bool {
		// Sandbox first: an update it no longer holds is in the stream.
		if pending = s.Sandbox.Stats().Pending; pending > 0 {
			return false
		}
		stored, err = s.storedUpdates()
		return err == nil && stored == 0
	}, timeout, 50*time.Millisecond, "not settled: %d updates waiting in the sandbox, %d in TG_UPDATES (%v)", pending, stored, err)
}

// storedUpdates is how many updates TG_UPDATES holds.
func (s *system) storedUpdates() (uint64, error) {
	ctx, cancel := context.WithTimeout(s.t.Context(), 2*time.Second)
	defer cancel()
	st, err := s.js.Stream(ctx, telegram.UpdatesStream)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// dlq lists every dead letter.
func (s *system) dlq() []bus.DLQEntry {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 5*time.Second)
	defer cancel()
	entries, err := bus.ListDLQ(ctx, s.js, "", 0)
	require.NoError(s.t, err, "listing the DLQ")
	return entries
}

// userMessageIDs returns the ids of the first n messages the user wrote in
// chat. A chat's messages of both sides share one id sequence from 1 (as in
// Telegram) and the bot deletes nothing here, so the user's are the ids the
// bot's messages do not take.
func userMessageIDs(bot []sandboxtg.Message, n int) []int64 {
	taken := map[int64]bool{}
	for _, m := range bot {
		taken[m.ID] = true
	}
	ids := make([]int64, 0, n)
	for id := int64(1); len(ids) < n; id++ {
		if !taken[id] {
			ids = append(ids, id)
		}
	}
	return ids
}

func replyTos(msgs []sandboxtg.Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.ReplyTo
	}
	return out
}

// requireAnsweredOnceInOrder checks what the user of chat sees after writing
// n messages: one reply to each, in the order they were written. Call it
// once the system has settled.
func (s *system) requireAnsweredOnceInOrder(chat int64, n int) {
	s.t.Helper()
	bot := s.Sandbox.Messages(chat)
	want := userMessageIDs(bot, n)
	require.Equal(s.t, want, replyTos(bot), "chat %d: the bot's replies, by the message each answers", chat)
	for _, m := range bot {
		require.NotEmpty(s.t, m.Plain, "chat %d: reply %d is empty", chat, m.ID)
	}
}

// sendTexts has the user of each chat write n messages, round-robin over
// the chats, and returns the number written.
func (s *system) sendTexts(n int, chats ...int64) int {
	for i := range n {
		for _, chat := range chats {
			s.Sandbox.SendText(chat, fmt.Sprintf("message %d", i+1))
		}
	}
	return n * len(chats)
}

func chatRange(first int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = first + int64(i)
	}
	return out
}

// output collects the services' prefixed output for the test to search;
// procs writes it one line at a time.
type output struct {
	obstest.LogBuffer
}

func (o *output) tail(n int) string {
	lines := strings.SplitAfter(o.String(), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "")
}

// logLine is one JSON log line of a service.
type logLine struct {
	Source string // output prefix, e.g. "bot-handler-0"
	Fields map[string]any
	Time   time.Time
}

func (l logLine) str(key string) string {
	s, _ := l.Fields[key].(string)
	return s
}

// events returns the log lines with event ev from services whose output
// prefix starts with source, in output order, for which match (if not nil)
// holds.
func (o *output) events(source, ev string, match func(logLine) bool) []logLine {
	var out []logLine
	for _, line := range o.Lines(ev) {
		prefix, body, ok := procs.SplitLine(line)
		if !ok || !strings.HasPrefix(prefix, source) {
			continue
		}
		l := logLine{Source: prefix}
		if json.Unmarshal([]byte(body), &l.Fields) != nil || l.str("event") != ev {
			continue
		}
		l.Time, _ = time.Parse(time.RFC3339Nano, l.str("time"))
		if match == nil || match(l) {
			out = append(out, l)
		}
	}
	return out
}

// waitEvent waits until a log line as events selects it appears, and
// returns the first.
func (s *system) waitEvent(timeout time.Duration, source, ev string, match func(logLine) bool) logLine {
	s.t.Helper()
	var found []logLine
	require.Eventually(s.t, func() bool {
		found = s.out.events(source, ev, match)
		return len(found) > 0
	}, timeout, 20*time.Millisecond, "no %s log line from %s", ev, source)
	return found[0]
}
