package store_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const botID = 42

// world is a fresh schema and a store over it.
type world struct {
	t  *testing.T
	db *pgdbtest.DB
	s  *store.Store
}

func newWorld(t *testing.T) *world {
	t.Helper()
	db := pgdbtest.New(t)
	return &world{t: t, db: db, s: store.New(db.Pool)}
}

func (w *world) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	w.t.Cleanup(cancel)
	return ctx
}

func (w *world) exec(sql string, args ...any) {
	w.t.Helper()
	_, err := w.db.Pool.Exec(w.ctx(), sql, args...)
	require.NoError(w.t, err)
}

// user is a user who started the bot in lang.
func (w *world) user(id int64, lang string) {
	w.t.Helper()
	w.exec(`INSERT INTO users (id, chat_id, language) VALUES ($1, $1, $2)`, id, lang)
}

// period gives user a period of kind, running or over.
func (w *world) period(user int64, kind string, running bool) {
	w.t.Helper()
	if running {
		w.exec(`INSERT INTO subscriptions (user_id, kind, starts_at, expires_at)
			VALUES ($1, $2, now() - interval '1 day', now() + interval '2 days')`, user, kind)
		return
	}
	w.exec(`INSERT INTO subscriptions (user_id, kind, status, starts_at, expires_at, revoked_at)
		VALUES ($1, $2, 'revoked', now() - interval '40 days', now() - interval '10 days', now() - interval '9 days')`, user, kind)
}

// invoice gives user an invoice, paid or left to expire.
func (w *world) invoice(user int64, paid bool) {
	w.t.Helper()
	if paid {
		w.exec(`INSERT INTO invoices (user_id, plan_id, provider, price_usd, price_stars, duration, expires_at, status, paid_at)
			VALUES ($1, 'm1', 'stars', 4.99, 250, interval '30 days', now() + interval '1 hour', 'paid', now())`, user)
		return
	}
	w.exec(`INSERT INTO invoices (user_id, plan_id, provider, price_usd, price_stars, duration, expires_at, status)
		VALUES ($1, 'm1', 'stars', 4.99, 250, interval '30 days', now() - interval '1 hour', 'expired')`, user)
}

func (w *world) draft(updateID int64, segment string) store.Broadcast {
	w.t.Helper()
	b, created, err := w.s.CreateBroadcast(w.ctx(), store.NewBroadcast{
		BotID: botID, UpdateID: updateID, AdminID: 777, Segment: segment, Text: "Hello"})
	require.NoError(w.t, err)
	require.True(w.t, created)
	return b
}

func TestEachAudienceSelectsItsUsers(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const (
		payer       = 101 // en, paid, running paid period
		onTrial     = 102 // ru, running trial, never paid
		lapsed      = 103 // en, paid period over, paid once
		newcomer    = 104 // en, nothing, an unpaid invoice
		blocked     = 105 // ru, running paid period, blocked the bot
		trialOver   = 106 // ru, trial period over but not yet revoked
		lapsedTrial = 107 // en, trial period revoked
	)
	for id, lang := range map[int64]string{payer: "en", onTrial: "ru", lapsed: "en", newcomer: "en", blocked: "ru", trialOver: "ru", lapsedTrial: "en"} {
		w.user(id, lang)
	}
	w.period(payer, "paid", true)
	w.invoice(payer, true)
	w.period(onTrial, "trial", true)
	w.period(lapsed, "paid", false)
	w.invoice(lapsed, true)
	w.invoice(newcomer, false)
	w.period(blocked, "paid", true)
	w.exec(`UPDATE users SET blocked_at = now() WHERE id = $1`, blocked)
	w.exec(`INSERT INTO subscriptions (user_id, kind, starts_at, expires_at)
		VALUES ($1, 'trial', now() - interval '4 days', now() - interval '1 hour')`, trialOver)
	w.period(lapsedTrial, "trial", false)

	want := map[string][]int64{
		store.SegmentAll:       {payer, onTrial, lapsed, newcomer, trialOver, lapsedTrial},
		store.SegmentActive:    {payer, onTrial},
		store.SegmentExpired:   {lapsed, trialOver, lapsedTrial},
		store.SegmentTrial:     {onTrial},
		store.SegmentNeverPaid: {onTrial, newcomer, trialOver, lapsedTrial},
		store.SegmentLangEN:    {payer, lapsed, newcomer, lapsedTrial},
		store.SegmentLangRU:    {onTrial, trialOver},
	}
	require.Len(t, want, len(store.Segments), "every segment is checked")
	for i, segment := range store.Segments {
		d := w.draft(int64(1000+i), segment)
		require.Equal(t, store.StateDraft, d.State)
		require.Equal(t, len(want[segment]), d.Total, "%s: the draft counts its audience", segment)
		recipients, err := w.s.BroadcastRecipients(w.ctx(), d.ID)
		require.NoError(t, err)
		require.Empty(t, recipients, "%s: a draft has no recipients yet", segment)

		b, confirmed, found, err := w.s.ConfirmBroadcast(w.ctx(), d.ID, false)
		require.NoError(t, err)
		require.True(t, confirmed && found)
		require.Equal(t, len(want[segment]), b.Total, segment)
		recipients, err = w.s.BroadcastRecipients(w.ctx(), d.ID)
		require.NoError(t, err)
		require.Equal(t, want[segment], recipients, segment)
	}
}

// The recipients are whoever is in the audience when the admin confirms,
// not when the draft was made; a redelivered /broadcast finds its draft.
func TestADraftsRecipientsAreFixedAtConfirmation(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.user(1, "en")
	d := w.draft(1, store.SegmentAll)
	require.Equal(t, 1, d.Total)
	again, created, err := w.s.CreateBroadcast(w.ctx(), store.NewBroadcast{
		BotID: botID, UpdateID: 1, AdminID: 777, Segment: store.SegmentActive, Text: "Other"})
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, d, again, "the redelivery reads the first delivery's draft")

	w.user(2, "ru")
	w.user(3, "en")
	w.exec(`UPDATE users SET blocked_at = now() WHERE id = 1`)
	b, confirmed, _, err := w.s.ConfirmBroadcast(w.ctx(), d.ID, true)
	require.NoError(t, err)
	require.True(t, confirmed)
	require.True(t, b.Paid)
	require.NotNil(t, b.ConfirmedAt)
	require.Equal(t, 2, b.Total)
	recipients, err := w.s.BroadcastRecipients(w.ctx(), d.ID)
	require.NoError(t, err)
	require.Equal(t, []int64{2, 3}, recipients)
}

// Send and Send as paid, pressed at once by several hands (or a press and
// its redelivery), confirm a draft once: one press wins, with its choice of
// paid, and the recipients are written once. A cancelled draft cannot be
// confirmed, and dropping a draft never cancels the broadcast it became.
func TestConfirmAndCancelHappenOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for id := int64(1); id <= 5; id++ {
		w.user(id, "en")
	}
	const rounds, presses = 5, 8
	for round := range rounds {
		d := w.draft(int64(100+round), store.SegmentAll)
		var (
			mu      sync.Mutex
			winners []bool // the paid choice of each press that confirmed
			wg      sync.WaitGroup
			start   = make(chan struct{})
		)
		for i := range presses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				paid := i%2 == 1
				b, confirmed, found, err := w.s.ConfirmBroadcast(context.Background(), d.ID, paid)
				if !(assertNoErr(t, err) && found && b.State == store.StateSending) {
					t.Errorf("press %d: found %v, state %q", i, found, b.State)
				}
				if confirmed {
					mu.Lock()
					winners = append(winners, paid)
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		require.Len(t, winners, 1, "round %d: one press confirms", round)
		b, found, err := w.s.Broadcast(w.ctx(), d.ID)
		require.NoError(t, err)
		require.True(t, found)
		require.Equal(t, winners[0], b.Paid, "round %d: the winning press's choice", round)
		recipients, err := w.s.BroadcastRecipients(w.ctx(), d.ID)
		require.NoError(t, err)
		require.Equal(t, []int64{1, 2, 3, 4, 5}, recipients, "round %d", round)

		// Dropping the draft now does nothing: it is being sent.
		_, cancelled, _, err := w.s.CancelBroadcast(w.ctx(), d.ID, store.StateDraft)
		require.NoError(t, err)
		require.False(t, cancelled)

		// Cancelling it, at once from several hands, happens once.
		var cancels sync.WaitGroup
		var cancelledN int
		start = make(chan struct{})
		for range presses {
			cancels.Add(1)
			go func() {
				defer cancels.Done()
				<-start
				_, cancelled, found, err := w.s.CancelBroadcast(context.Background(), d.ID, store.StateSending)
				if assertNoErr(t, err) && !found {
					t.Errorf("broadcast %d not found", d.ID)
				}
				if cancelled {
					mu.Lock()
					cancelledN++
					mu.Unlock()
				}
			}()
		}
		close(start)
		cancels.Wait()
		require.Equal(t, 1, cancelledN, "round %d: one cancel", round)
		b, _, err = w.s.Broadcast(w.ctx(), d.ID)
		require.NoError(t, err)
		require.NotNil(t, b.CancelledAt)
	}

	// A dropped draft stays unsent, whoever presses Send after.
	d := w.draft(999, store.SegmentAll)
	_, cancelled, _, err := w.s.CancelBroadcast(w.ctx(), d.ID, store.StateDraft)
	require.NoError(t, err)
	require.True(t, cancelled)
	b, confirmed, found, err := w.s.ConfirmBroadcast(w.ctx(), d.ID, false)
	require.NoError(t, err)
	require.True(t, found)
	require.False(t, confirmed)
	require.Equal(t, store.StateDraft, b.State)
	recipients, err := w.s.BroadcastRecipients(w.ctx(), d.ID)
	require.NoError(t, err)
	require.Empty(t, recipients)

	_, _, found, err = w.s.ConfirmBroadcast(w.ctx(), 123456, false)
	require.NoError(t, err)
	require.False(t, found)
}

// The progress counts what the sender's sent-log, its dead letters and the
// users' blocks say; after a cancel, what is none of these is cancelled.
func TestProgressCountsSentBlockedWaitingAndCancelled(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for id := int64(1); id <= 4; id++ {
		w.user(id, "en")
	}
	d := w.draft(1, store.SegmentAll)
	b, _, _, err := w.s.ConfirmBroadcast(w.ctx(), d.ID, false)
	require.NoError(t, err)
	w.exec(`INSERT INTO sent_messages (dedup_id, chat_id, sent_at) VALUES ($1, 1, $2)`,
		"broadcast:"+strconv.FormatInt(b.ID, 10)+":1", b.ConfirmedAt.Add(2*time.Second))
	w.exec(`UPDATE users SET blocked_at = now() WHERE id = 2`)

	p, found, err := w.s.BroadcastProgress(w.ctx(), b.ID, nil)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, [5]int{1, 1, 0, 2, 0}, [5]int{p.Sent, p.Blocked, p.Failed, p.Waiting(), p.Cancelled()})
	// The sender gave up on 3, and on 1 and 2 before they were sent or
	// blocked: only 3 counts as failed.
	p, _, err = w.s.BroadcastProgress(w.ctx(), b.ID, []int64{1, 2, 3})
	require.NoError(t, err)
	require.Equal(t, [5]int{1, 1, 1, 1, 0}, [5]int{p.Sent, p.Blocked, p.Failed, p.Waiting(), p.Cancelled()})
	require.WithinDuration(t, b.ConfirmedAt.Add(2*time.Second), *p.LastSentAt, time.Millisecond)

	_, cancelled, _, err := w.s.CancelBroadcast(w.ctx(), b.ID, store.StateSending)
	require.NoError(t, err)
	require.True(t, cancelled)
	p, _, err = w.s.BroadcastProgress(w.ctx(), b.ID, []int64{3})
	require.NoError(t, err)
	require.Equal(t, [5]int{1, 1, 1, 0, 1}, [5]int{p.Sent, p.Blocked, p.Failed, p.Waiting(), p.Cancelled()})

	_, found, err = w.s.BroadcastProgress(w.ctx(), 999999, nil)
	require.NoError(t, err)
	require.False(t, found)
}

func assertNoErr(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}
