package feed_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/worker"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/reminders/internal/feed"
)

// lineUser reads the kind and the user of an event line.
var lineUser = regexp.MustCompile(`^\S+ (\S+) · user (\d+) `)

// kindsByUser reads the chat's lines back into each user's events, in the
// order the chat shows them.
func kindsByUser(t *testing.T, lines []string) map[int64][]string {
	t.Helper()
	out := map[int64][]string{}
	for _, l := range lines {
		m := lineUser.FindStringSubmatch(l)
		require.NotNil(t, m, "line %q", l)
		id, err := strconv.ParseInt(m[2], 10, 64)
		require.NoError(t, err)
		out[id] = append(out[id], m[1])
	}
	return out
}

func TestThreeReplicasPostEachEventInExactlyOneMessageInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	replicas := []*replica{e.replica(t, "en"), e.replica(t, "en"), e.replica(t, "en")}
	const rounds, buyers = 3, 4
	want := map[int64][]string{}
	admin, _ := e.user(t)
	for round := range rounds {
		var users []int64
		for range buyers {
			u, _ := e.user(t)
			users = append(users, u)
			want[u] = []string{"trial", "payment", "top-up", "ban"}
		}
		// The buyers buy while the replicas post, over and over, all at once.
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, u := range users {
			wg.Go(func() {
				<-start
				assertNoError(t, e.buyAndGetBanned(u, admin))
			})
		}
		var mu sync.Mutex
		total := worker.Result{}
		for _, r := range replicas {
			wg.Go(func() {
				<-start
				for range 5 {
					res := worker.Result{}
					if !assertNoError(t, r.f.Post(context.Background(), res)) {
						return
					}
					mu.Lock()
					for k, v := range res {
						total[k] += v
					}
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		replicas[round].post(t) // what came after the last passes
		require.Positive(t, total["feed_busy"], "round %d: the replicas never met; the test proved nothing", round)
	}

	msgs := e.eventMessages(t)
	got := kindsByUser(t, lines(msgs))
	require.Equal(t, want, got, "each user's events, each once, in the order they happened")
	require.Equal(t, e.claimedInOrder(t), dedupIDs(e.feedMessages(t)), "the chat gets the messages in the order claimed")
	var posted float64
	var logged int
	for _, r := range replicas {
		posted += r.posted(t)
		logged += len(r.postedEvents(t))
	}
	require.EqualValues(t, rounds*buyers*4, posted, "each event counted once, by the replica that posted it")
	require.Equal(t, len(msgs), logged, "FEED_POSTED once per message")
}

// buyAndGetBanned is a user's life in the shop, one step after the other:
// a trial, a payment and a top-up, then a ban.
func (e *env) buyAndGetBanned(u, admin int64) error {
	ctx := context.Background()
	if _, err := e.shop.StartTrial(ctx, u); err != nil {
		return err
	}
	inv, err := e.shop.CreateOrder(ctx, u, "m1", shop.ProviderStars)
	if err != nil {
		return err
	}
	if _, _, err := e.shop.ApplyPayment(ctx, inv.ID, fmt.Sprintf("charge-%d", inv.ID)); err != nil {
		return err
	}
	req := fmt.Sprintf("topup-%d", u)
	if inv, err = e.shop.CreateStarsTopUpOnce(ctx, req, u, 100); err != nil {
		return err
	}
	if _, _, err := e.shop.ApplyPayment(ctx, inv.ID, "charge-"+req); err != nil {
		return err
	}
	_, err = e.db.Pool.Exec(ctx, `
		INSERT INTO admin_audit (op_key, admin_id, action, target_id, created_at) VALUES ($1, $2, 'ban', $3, $4)`,
		fmt.Sprintf("ban:%d", u), admin, u, time.Now())
	return err
}

// assertNoError reports err on t from a goroutine other than the test's.
func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Errorf("unexpected: %v", err)
		return false
	}
	return true
}

func TestAMessageTheOutboxDidNotTakeIsPublishedAgainFirstUnderItsDedupID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.replica(t, "en")
	u, _ := e.user(t)
	_, err := e.shop.StartTrial(t.Context(), u)
	require.NoError(t, err)
	require.NoError(t, e.js.DeleteStream(t.Context(), outbox.Stream))

	res := worker.Result{}
	require.Error(t, r.f.Post(t.Context(), res))
	require.Zero(t, res["feed_events"])
	require.Len(t, r.logs.Events(t, feed.EventFailed), 1)
	var dedupID, text string
	require.NoError(t, e.db.Pool.QueryRow(t.Context(),
		`SELECT dedup_id, text FROM feed_messages WHERE published_at IS NULL`).Scan(&dedupID, &text))

	// More happens meanwhile; the OUTBOX is back.
	e.pay(t, u)
	require.NoError(t, bus.DeclareStreams(t.Context(), e.js, outbox.StreamConfig()))
	res = r.post(t)
	msgs := e.eventMessages(t)
	require.Len(t, msgs, 2)
	require.Equal(t, dedupID, msgs[0].GetDedupId(), "the claimed message first, under its own dedup id")
	require.Equal(t, text, msgs[0].GetText(), "word for word")
	require.Contains(t, msgs[0].GetText(), "🎁 trial")
	require.Contains(t, msgs[1].GetText(), "💳 payment")
	require.Equal(t, 2, res["feed_events"])
	require.EqualValues(t, 2, r.posted(t))
}

func TestAMessagePublishedButNotRecordedIsOneMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.replica(t, "en")
	u, _ := e.user(t)
	_, err := e.shop.StartTrial(t.Context(), u)
	require.NoError(t, err)
	require.NoError(t, e.js.DeleteStream(t.Context(), outbox.Stream))
	require.Error(t, r.f.Post(t.Context(), worker.Result{}))
	// The publish reached the stream but its ack was lost: the OUTBOX has
	// the message, the database does not know it.
	require.NoError(t, bus.DeclareStreams(t.Context(), e.js, outbox.StreamConfig()))
	var dedupID, text string
	require.NoError(t, e.db.Pool.QueryRow(t.Context(),
		`SELECT dedup_id, text FROM feed_messages WHERE published_at IS NULL`).Scan(&dedupID, &text))
	_, err = outbox.Publish(t.Context(), e.js, &vpnbotv1.SendMessage{DedupId: dedupID, ChatId: chat, Text: text,
		Priority: vpnbotv1.Priority_PRIORITY_BROADCAST})
	require.NoError(t, err)

	other := e.replica(t, "en")
	res := other.post(t)
	require.Equal(t, 1, res["feed_duplicate"])
	require.Zero(t, res["feed_events"])
	require.Equal(t, []string{dedupID}, dedupIDs(e.eventMessages(t)), "one copy")
	require.EqualValues(t, 1, other.posted(t), "counted once it is recorded")
	require.Zero(t, other.post(t)["feed_duplicate"], "recorded now")
}

func TestEventsCommittedOutOfIDOrderAreStillPosted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.replica(t, "en")
	early, _ := e.user(t)
	late, _ := e.user(t)

	// The early user's trial takes its id first and commits last.
	tx, err := e.db.Pool.Begin(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	var earlyID int64
	require.NoError(t, tx.QueryRow(t.Context(), `
		INSERT INTO ledger (op_key, user_id, kind, created_at) VALUES ('trial:early', $1, 'trial', $2) RETURNING id`,
		early, e.clock.Now()).Scan(&earlyID))
	e.pay(t, late)
	r.post(t)
	require.NoError(t, tx.Commit(t.Context()))
	r.post(t)

	msgs := e.eventMessages(t)
	require.Len(t, msgs, 2)
	require.True(t, strings.HasPrefix(msgs[0].GetText(), fmt.Sprintf("💳 payment · user %d ", late)), msgs[0].GetText())
	require.True(t, strings.HasPrefix(msgs[1].GetText(), fmt.Sprintf("🎁 trial · user %d ", early)), msgs[1].GetText())
	require.Equal(t, "feed:ledger:"+strconv.FormatInt(earlyID, 10), msgs[1].GetDedupId())
	require.Less(t, earlyID, mustID(t, msgs[0].GetDedupId()), "the trial's id is the smaller: a cursor would have passed it")
}

// mustID is the event id a message's dedup id names.
func mustID(t *testing.T, dedupID string) int64 {
	t.Helper()
	id, err := strconv.ParseInt(dedupID[strings.LastIndex(dedupID, ":")+1:], 10, 64)
	require.NoError(t, err)
	return id
}
