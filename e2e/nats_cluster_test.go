package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/bus/natsembed"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// TestNATSNodeLossLosesNoUpdate runs NATS as production does, three nodes
// with every stream on all three (STREAM_REPLICAS=3), while users write
// and probes play Telegram at the gateway's webhook. The leader of
// TG_UPDATES is stopped, started again, and the next leader stopped: a
// majority always stands, so the gateway goes on answering 200 after an
// election, and every update it acknowledged is handled, each user's
// messages answered once and in order. With two nodes of three down it
// answers 503 within its publish timeout, and once they are back
// Telegram's retries bring in what it refused.
func TestNATSNodeLossLosesNoUpdate(t *testing.T) {
	t.Parallel()
	loseNodes(t, false)
}

// TestNATSNodeCrashLosesNoUpdate is TestNATSNodeLossLosesNoUpdate with
// each node a process of its own, killed with SIGKILL instead of stopped:
// a crashed leader hands nothing over, so its peers elect the next one
// only after their Raft election timeout, and the gateway answers 503
// meanwhile. Nothing it acknowledged may be lost all the same.
func TestNATSNodeCrashLosesNoUpdate(t *testing.T) {
	t.Parallel()
	loseNodes(t, true)
}

// loseNodes is the scenario of the two tests: nodes are stopped, or
// killed when crash.
func loseNodes(t *testing.T, crash bool) {
	const publishTimeout = time.Second
	s := start(t, options{natsNodes: 3, env: []string{
		"PUBLISH_TIMEOUT=" + publishTimeout.String(),
		// Fewer partitions, fewer consumers for the three nodes to keep
		// on a busy test machine.
		"UPDATE_PARTITIONS=8",
	}})
	lose, lost := s.StopNATSNode, "stopped"
	if crash {
		lose, lost = s.KillNATSNode, "killed"
	}

	for _, stream := range []string{telegram.UpdatesStream, bus.StreamDLQ, events.Stream, outbox.Stream} {
		require.Equal(t, 3, s.replicas(stream, ""), "the services declared %s on every node", stream)
	}
	require.Eventually(t, func() bool { return s.replicas(telegram.UpdatesStream, "bot-handler-0") == 3 },
		20*time.Second, 50*time.Millisecond, "the bot-handler's durables are kept as their stream is")

	ctx, cancel := context.WithCancel(t.Context())
	var drive sync.WaitGroup
	defer func() { cancel(); drive.Wait() }()
	chats := chatRange(8001, 6)
	written := make([]int, len(chats))
	drive.Go(func() {
		for ctx.Err() == nil {
			for i, chat := range chats {
				written[i]++
				s.Sandbox.SendText(chat, fmt.Sprintf("message %d", written[i]))
			}
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	})
	p := &prober{s: s}
	for i := range probers {
		drive.Go(func() { p.run(ctx, i, -1008000-int64(i), 1_000_000*int64(i+1)) })
	}

	p.waitAcked(20)
	first := s.loseUpdatesLeader(p, lose, lost)
	p.waitAcked(20)
	require.NoError(t, s.StartNATSNode(first))
	bustest.WaitCurrent(t, s.js, telegram.UpdatesStream)
	second := s.loseUpdatesLeader(p, lose, lost)
	p.waitAcked(20)

	// Two nodes of three down: no majority, no stream leader, nothing
	// stored; the gateway must say so, not hang.
	third := 3 - first - second
	require.NoError(t, lose(third))
	twoDown := time.Now()
	p.waitRefusedSince(twoDown, 3)
	require.Empty(t, p.newAckedSince(twoDown), "the gateway stored an update with one node of three")
	t.Logf("two nodes down: no new update stored, %d webhook calls answered 503, the longest call took %s (PUBLISH_TIMEOUT %s)",
		p.count(twoDown, http.StatusServiceUnavailable), p.longest(beganAfter(twoDown)).Round(time.Millisecond), publishTimeout)
	require.LessOrEqual(t, p.longest(beganAfter(twoDown)), publishTimeout+2*time.Second, "a webhook call hung past the publish timeout")

	require.NoError(t, s.StartNATSNode(third))
	require.NoError(t, s.StartNATSNode(second))
	p.waitAcked(20)
	cancel()
	drive.Wait()

	// Telegram's backoff reaches 10 s between attempts after the outage.
	s.waitSettled(45 * time.Second)
	for i, chat := range chats {
		s.requireAnsweredOnceInOrder(chat, written[i])
	}
	p.requireHandled()
	require.Empty(t, p.unexpected, "webhook answers other than 200 and 503")
	require.Empty(t, s.dlq())
	t.Logf("%d user messages and %d probes acknowledged, each handled", len(chats)*written[0], len(p.acked))
}

// loseUpdatesLeader stops or kills (lose) the node that leads TG_UPDATES,
// as stream info names it, and logs how long the gateway took to store an
// update again.
func (s *system) loseUpdatesLeader(p *prober, lose func(int) error, lost string) int {
	s.t.Helper()
	var leader int
	var info *jetstream.StreamInfo
	require.Eventually(s.t, func() bool {
		var ok bool
		if leader, ok = s.NATSStreamLeader(telegram.UpdatesStream); !ok {
			return false
		}
		info = s.streamInfo(telegram.UpdatesStream)
		return info != nil && info.Cluster != nil && info.Cluster.Leader == natsembed.NodeName(leader)
	}, 20*time.Second, 10*time.Millisecond, "TG_UPDATES has a leader that stream info names")
	stopped := time.Now()
	require.NoError(s.t, lose(leader))
	p.waitAckedSince(stopped)
	p.waitSettledAt(stopped)
	s.t.Logf("leader %s of TG_UPDATES %s: a webhook call answered 200 %s later; the calls in flight then were answered within %s",
		info.Cluster.Leader, lost, p.firstAckSince(stopped).Sub(stopped).Round(time.Millisecond), p.longest(inFlightAt(stopped)).Round(time.Millisecond))
	return leader
}

// streamInfo is stream's info, or nil when NATS does not answer (an
// election of its metadata leader).
func (s *system) streamInfo(stream string) *jetstream.StreamInfo {
	ctx, cancel := context.WithTimeout(s.t.Context(), 2*time.Second)
	defer cancel()
	st, err := s.js.Stream(ctx, stream)
	if err != nil {
		return nil
	}
	return st.CachedInfo()
}

// replicas is bustest.Replicas, or bustest.ConsumerReplicas of durable.
func (s *system) replicas(stream, durable string) int {
	ctx, cancel := context.WithTimeout(s.t.Context(), 2*time.Second)
	defer cancel()
	if durable != "" {
		return bustest.ConsumerReplicas(ctx, s.js, stream, durable)
	}
	return bustest.Replicas(ctx, s.js, stream)
}

// probers is the number of probes that call the webhook at once.
const probers = 4

// prober plays Telegram for group chats, which the bot reads and leaves
// unanswered: each prober posts one update after another to the gateway's
// webhook, the same update again 20 ms after each 503, and records every
// answer. It measures the path from the webhook into the stream, without
// the sandbox's growing backoff between attempts.
type prober struct {
	s *system

	mu sync.Mutex
	// calling is when each probe's call in flight began; zero between calls.
	calling    [probers]time.Time
	attempts   []attempt
	acked      []int64 // update ids answered 200
	unexpected []string
}

// attempt is one webhook call.
type attempt struct {
	id           int64 // the update's
	began, ended time.Time
	status       int
}

// run is probe i: it posts updates of chat, with ids from firstID on, until
// ctx ends.
func (p *prober) run(ctx context.Context, i int, chat, firstID int64) {
	for id := firstID; ctx.Err() == nil; id++ {
		body := fmt.Sprintf(`{"update_id": %d, "message": {"message_id": %d, "date": %d, `+
			`"chat": {"id": %d, "type": "group", "title": "probes"}, `+
			`"from": {"id": 3998, "is_bot": false, "first_name": "Probe"}, "text": "probe"}}`,
			id, id, time.Now().Unix(), chat)
		for ctx.Err() == nil {
			status := p.post(ctx, i, id, body)
			if status == http.StatusOK {
				p.mu.Lock()
				p.acked = append(p.acked, id)
				p.mu.Unlock()
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// post makes probe i's webhook call with update id and records it; 0 is a
// call cut short by ctx.
func (p *prober) post(ctx context.Context, i int, id int64, body string) int {
	began := time.Now()
	p.mu.Lock()
	p.calling[i] = began
	p.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.s.WebhookURL, strings.NewReader(body))
	var resp *http.Response
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", p.s.WebhookSecret)
		if resp, err = p.s.http.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calling[i] = time.Time{}
	if ctx.Err() != nil {
		return 0
	}
	if err != nil {
		p.unexpected = append(p.unexpected, err.Error())
		return 0
	}
	p.attempts = append(p.attempts, attempt{id: id, began: began, ended: time.Now(), status: resp.StatusCode})
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		p.unexpected = append(p.unexpected, resp.Status)
	}
	return resp.StatusCode
}

// firstAckSince is when the first call begun after since was answered
// 200; zero if none was yet.
func (p *prober) firstAckSince(since time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var first time.Time
	for _, a := range p.attempts {
		if a.status == http.StatusOK && a.began.After(since) && (first.IsZero() || a.ended.Before(first)) {
			first = a.ended
		}
	}
	return first
}

// newAckedSince lists the updates first posted after since that were
// answered 200. An update posted before may be: one whose store the
// gateway stopped waiting for (503), but that the stream had stored, is a
// duplicate when Telegram sends it again, which the stream's leader
// answers alone.
func (p *prober) newAckedSince(since time.Time) []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	postedBefore := map[int64]bool{}
	for _, a := range p.attempts {
		if !a.began.After(since) {
			postedBefore[a.id] = true
		}
	}
	var ids []int64
	for _, a := range p.attempts {
		if a.status == http.StatusOK && a.began.After(since) && !postedBefore[a.id] {
			ids = append(ids, a.id)
		}
	}
	return ids
}

func (p *prober) count(since time.Time, status int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, a := range p.attempts {
		if a.status == status && a.began.After(since) {
			n++
		}
	}
	return n
}

// longest is the longest call for which in holds.
func (p *prober) longest(in func(attempt) bool) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var longest time.Duration
	for _, a := range p.attempts {
		if in(a) {
			longest = max(longest, a.ended.Sub(a.began))
		}
	}
	return longest
}

// beganAfter selects the calls begun after t, for longest.
func beganAfter(t time.Time) func(attempt) bool {
	return func(a attempt) bool { return a.began.After(t) }
}

// inFlightAt selects the calls in flight at t, for longest.
func inFlightAt(t time.Time) func(attempt) bool {
	return func(a attempt) bool { return a.began.Before(t) && a.ended.After(t) }
}

// waitSettledAt waits until the calls in flight at t are over.
func (p *prober) waitSettledAt(t time.Time) {
	p.s.t.Helper()
	require.Eventually(p.s.t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, began := range p.calling {
			if !began.IsZero() && began.Before(t) {
				return false
			}
		}
		return true
	}, 30*time.Second, 5*time.Millisecond, "a webhook call in flight at the stop never ended")
}

func (p *prober) waitAcked(n int) {
	p.s.t.Helper()
	p.mu.Lock()
	want := len(p.acked) + n
	p.mu.Unlock()
	require.Eventually(p.s.t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.acked) >= want
	}, 30*time.Second, 10*time.Millisecond, "the gateway stopped answering 200")
}

func (p *prober) waitAckedSince(since time.Time) {
	p.s.t.Helper()
	require.Eventually(p.s.t, func() bool { return !p.firstAckSince(since).IsZero() },
		30*time.Second, 5*time.Millisecond, "the gateway answered no 200 after the leader stopped")
}

func (p *prober) waitRefusedSince(since time.Time, n int) {
	p.s.t.Helper()
	require.Eventually(p.s.t, func() bool { return p.count(since, http.StatusServiceUnavailable) >= n },
		30*time.Second, 10*time.Millisecond, "the gateway answered no 503 with two nodes down")
}

// requireHandled checks that the bot-handler recorded every probe the
// gateway acknowledged in its inbox.
func (p *prober) requireHandled() {
	p.s.t.Helper()
	rows, err := p.s.db.Pool.Query(p.s.t.Context(),
		`SELECT update_id FROM processed_updates WHERE bot_id = $1 AND update_id >= 1000000`, p.s.botID)
	require.NoError(p.s.t, err)
	handled := map[int64]bool{}
	for rows.Next() {
		var id int64
		require.NoError(p.s.t, rows.Scan(&id))
		handled[id] = true
	}
	require.NoError(p.s.t, rows.Err())
	for _, id := range p.acked {
		require.True(p.s.t, handled[id], "probe %d was acknowledged but never handled", id)
	}
}
