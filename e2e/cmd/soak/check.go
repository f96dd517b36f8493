package main

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/vpnbot/vpnbot/pkg/botui"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// Verdict is the checks' judgement: the rows of the table and every
// violation, each naming the update, invoice, period or message that broke
// an invariant.
type Verdict struct {
	Rows       []Row
	Violations []Violation
	// Recovery is, by fault, the time from its end until the last piece
	// of work it caught in flight was done.
	Recovery []Recovery
}

// Row is one line of the table: an invariant (OK says whether it held) or,
// with Info, a figure.
type Row struct {
	Check  string
	Result string
	OK     bool
	Info   bool
}

// Violation is one broken invariant, naming what broke it.
type Violation struct {
	Check string
	What  string
}

// The checks, as the table names them.
const (
	checkUpdates    = "every update answered exactly once"
	checkApplied    = "every paid invoice applied exactly once; no period extended twice by one payment"
	checkLedger     = "the ledger: every balance the sum of its rows, none negative; every paid invoice one row; one reward per qualifying payment; promo codes within their limits; one renewal per cycle"
	checkConfirmed  = "every payment confirmed to its user exactly once"
	checkKeys       = "every paid or trial period's key delivered exactly once"
	checkExpired    = "no key alive on the panel past expiry + grace"
	checkOrphans    = "no panel user without a live period; no live period without its key"
	checkOneLink    = "one link per user: one working account across the panels, one link in all their key messages"
	checkSentOnce   = "no message sent twice by the sender"
	checkBroadcasts = "every broadcast reached each recipient"
	checkOffers     = "every Crypto Pay invoice is one order's; one order on offer per user and plan"
	checkLimits     = "Telegram's limits never exceeded by us"
	checkDLQ        = "no dead letters"
	checkRestarts   = "services restarted only by the schedule"
	checkDrained    = "the system drained after the drive"
	checkCoverage   = "the run did what a soak must"
)

// judge runs every check over r.
func judge(r *Records) Verdict {
	v := &Verdict{}
	v.updates(r)
	after := v.applied(r)
	v.confirmed(r, after)
	copies := starsCopies(r, after)
	v.keys(r)
	v.expired(r)
	v.orphans(r)
	v.oneLink(r)
	v.sentOnce(r, copies)
	v.broadcasts(r)
	v.offers(r)
	v.ledger(r)
	v.admin(r)
	v.limits(r)
	v.deadLetters(r)
	v.restarts(r)
	v.drained(r)
	v.coverage(r)
	v.recovery(r)
	return *v
}

func (v *Verdict) fail(check, format string, args ...any) {
	v.Violations = append(v.Violations, Violation{Check: check, What: fmt.Sprintf(format, args...)})
}

// row adds the row of check, OK unless a violation of it was recorded.
func (v *Verdict) row(check, format string, args ...any) {
	ok := !slices.ContainsFunc(v.Violations, func(x Violation) bool { return x.Check == check })
	v.Rows = append(v.Rows, Row{Check: check, Result: fmt.Sprintf(format, args...), OK: ok})
}

func (v *Verdict) info(check, format string, args ...any) {
	v.Rows = append(v.Rows, Row{Check: check, Result: fmt.Sprintf(format, args...), OK: true, Info: true})
}

// allowance is what may make a piece of work happen twice: which faults
// (may), how many repeats each may cause to one item (perItem) and in all
// (total). Every allowance of the soak is bounded both ways, and its
// constructor says why. excuse charges repeats to the faults.
type allowance struct {
	may     func(Applied) bool
	perItem func(Applied) int
	total   func(Applied) int
	charged map[int]int // by index into Records.Applied
}

// excuse charges the repeats of one item, done at times[0] and again at
// each later time, to faults under way at some moment between its first and
// its last time: first to those under way when it was first done (429s or
// a cut that failed the attempt), then to those that began after (a kill
// that cut it short). It charges nothing, and reports false, when the faults
// there cannot take them all.
func (a *allowance) excuse(applied []Applied, times []time.Time) bool {
	repeats := len(times) - 1
	if repeats <= 0 {
		return true
	}
	first, last := slices.MinFunc(times, time.Time.Compare), slices.MaxFunc(times, time.Time.Compare)
	var candidates []int
	for i, f := range applied {
		if a.may(f) && !f.Ended.Before(first) && !f.Began.After(last) {
			candidates = append(candidates, i)
		}
	}
	slices.SortStableFunc(candidates, func(i, j int) int {
		under := func(f Applied) bool { return !f.Began.After(first) }
		switch ui, uj := under(applied[i]), under(applied[j]); {
		case ui && !uj:
			return -1
		case uj && !ui:
			return 1
		}
		return 0
	})
	take := map[int]int{}
	for _, i := range candidates {
		f := applied[i]
		if repeats == 0 {
			break
		}
		if n := min(repeats, a.perItem(f), a.total(f)-a.charged[i]); n > 0 {
			take[i] = n
			repeats -= n
		}
	}
	if repeats > 0 {
		return false
	}
	for i, n := range take {
		a.charged[i] += n
	}
	return true
}

// summary says how many repeats each fault caused.
func (a *allowance) summary(applied []Applied, start time.Time) string {
	if len(a.charged) == 0 {
		return "none"
	}
	var parts []string
	n := 0
	for _, i := range slices.Sorted(maps.Keys(a.charged)) {
		parts = append(parts, fmt.Sprintf("%d at %s @%s", a.charged[i], applied[i].Fault, clock(applied[i].Began.Sub(start))))
		n += a.charged[i]
	}
	return fmt.Sprintf("%d (%s)", n, strings.Join(parts, ", "))
}

func isKillOf(service string) func(Applied) bool {
	return func(f Applied) bool { return f.Kind == KindKill && f.Target.Name == service }
}

func isKind(k Kind) func(Applied) bool {
	return func(f Applied) bool { return f.Kind == k }
}

func oneOf(preds ...func(Applied) bool) func(Applied) bool {
	return func(f Applied) bool {
		return slices.ContainsFunc(preds, func(p func(Applied) bool) bool { return p(f) })
	}
}

// handlerRepeats is when the bot-handler may handle an update again after
// it answered it. The inbox row is written after the answer
// (services/bot-handler/internal/updates: "a crash in between means the
// update runs again"), so an update answers once more when its replica is
// killed, or PostgreSQL is cut, between the two: once per such fault, and
// at most one update per partition in all, since MaxAckPending = 1 keeps
// one update of each partition in flight in the whole fleet. An injected
// 429 on a later step (the screen's edit after answering a button press)
// retries the update whole: at most once per second of the 429s
// (retry_after ≥ 1 s, and the partition waits meanwhile) plus the attempt
// under way when they began, for each partition.
func handlerRepeats(t Timing) *allowance {
	perItem := func(f Applied) int {
		if f.Kind == KindTelegram {
			return int(f.For/time.Second) + 1
		}
		return 1
	}
	return &allowance{
		may:     oneOf(isKillOf("bot-handler"), isKind(KindPostgres), isKind(KindTelegram)),
		perItem: perItem,
		total:   func(f Applied) int { return perItem(f) * t.Partitions },
		charged: map[int]int{},
	}
}

// senderRepeats is when the sender may send a command again. It checks its
// sent-log before sending and records after Telegram accepted, so a repeat
// needs the record lost: its process killed between Telegram's answer and
// the insert, or the insert failing while PostgreSQL is cut
// (SENT_NOT_RECORDED). Once per command per fault, and at most the sends in
// flight then.
func senderRepeats(t Timing) *allowance {
	return &allowance{
		may:     oneOf(isKillOf("sender"), isKind(KindPostgres)),
		perItem: func(Applied) int { return 1 },
		total:   func(Applied) int { return t.SenderInFlight },
		charged: map[int]int{},
	}
}

// staleSkips is when a button press may wait in the stream longer than
// CALLBACK_MAX_AGE and be skipped by design: when a fault held up the
// updates in that time (a killed bot-handler's updates wait for AckWait, a
// killed gateway's for Telegram's retries, NATS or PostgreSQL away, 429s
// retried). Each press is skipped once; in all, no more than the presses
// the users made.
func staleSkips(r *Records) *allowance {
	return &allowance{
		may:     oneOf(isKillOf("bot-handler"), isKillOf("gateway"), isKind(KindNATS), isKind(KindPostgres), isKind(KindTelegram)),
		perItem: func(Applied) int { return 1 },
		total:   func(Applied) int { return len(r.Updates) },
		charged: map[int]int{},
	}
}

// latencies collects durations for percentiles.
type latencies []time.Duration

func (l latencies) String() string {
	if len(l) == 0 {
		return "none measured"
	}
	s := slices.Sorted(slices.Values(l))
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return fmt.Sprintf("p50 %s · p99 %s · max %s (n=%d)", round(at(0.5)), round(at(0.99)), round(s[len(s)-1]), len(s))
}

// round keeps a duration's first two or three digits.
func round(d time.Duration) time.Duration {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond)
	case d < 10*time.Second:
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

func (v *Verdict) updates(r *Records) {
	repeats, stale := handlerRepeats(r.Timing), staleSkips(r)
	var took latencies
	skipped := 0
	for _, u := range r.Updates {
		name := fmt.Sprintf("update %d (%s %q, chat %d, sent %s)", u.ID, u.Kind, u.What, u.Chat, clock(u.At.Sub(r.Start)))
		switch {
		case r.Admin.inBan(u):
			// A banned user's: answered once in all (the admin check).
		case u.DeadLetter != "":
			v.fail(checkUpdates, "%s went to the DLQ: %s", name, u.DeadLetter)
		case len(u.Answers) == 0 && u.Stale:
			if !stale.excuse(r.Applied, []time.Time{u.At, u.At.Add(r.Timing.CallbackMaxAge)}) {
				v.fail(checkUpdates, "%s was skipped as older than %s with no fault to hold it up", name, r.Timing.CallbackMaxAge)
			}
			skipped++
		case len(u.Answers) == 0:
			v.fail(checkUpdates, "%s was never answered", name)
		default:
			took = append(took, u.Answers[0].Sub(u.At))
			if !repeats.excuse(r.Applied, u.Answers) {
				v.fail(checkUpdates, "%s was answered %d times, at %s, with no fault between to excuse it",
					name, len(u.Answers), clocks(u.Answers, r.Start))
			}
		}
	}
	v.row(checkUpdates, "%d updates; answered again after a fault: %s; skipped as stale after a fault: %d",
		len(r.Updates), repeats.summary(r.Applied, r.Start), skipped)
	v.info("latency: update → first answer", "%s", took)
}

// replay computes a period's expiry from its grants, as grantSQL does: the
// first starts it, each later one extends it from the later of its own time
// and the expiry so far; a refund (a negative grant) shortens it by what it
// took back, which the shop recorded. after is the expiry each invoice's
// payment left (not a referral reward that names the invoice it rewards,
// which went to another user's period).
func replay(p Period) (expires time.Time, after map[int64]time.Time) {
	after = map[int64]time.Time{}
	for i, g := range p.Grants {
		switch {
		case i == 0:
			expires = g.At.Add(g.For)
		case g.For < 0:
			expires = expires.Add(g.For)
		default:
			expires = later(g.At, expires).Add(g.For)
		}
		if g.Kind == shop.LedgerPayment {
			after[g.Invoice] = expires
		}
	}
	return expires, after
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// applied checks the payments against the invoices and every period's
// expiry against its grants; it returns the expiry each invoice left.
func (v *Verdict) applied(r *Records) map[int64]time.Time {
	after := map[int64]time.Time{}
	byHow := map[string]int{}
	for _, p := range r.Payments {
		byHow[p.How]++
		switch {
		case p.How == "unknown":
			v.fail(checkApplied, "invoice %d (%s) is paid, but no user paid it", p.Invoice, p.Provider)
		case p.Invoice == 0:
			v.fail(checkApplied, "a %s payment of user %d (%s) at %s was never applied", p.How, p.User, p.External, clock(p.At.Sub(r.Start)))
		}
	}
	for _, p := range r.Periods {
		if len(p.Grants) == 0 {
			v.fail(checkApplied, "period %d of user %d has no ledger row behind it", p.ID, p.User)
			continue
		}
		if !p.Grants[0].At.Equal(p.Starts) {
			v.fail(checkApplied, "period %d of user %d starts at %s, but its first grant is at %s", p.ID, p.User, p.Starts, p.Grants[0].At)
		}
		want, left := replay(p)
		maps.Copy(after, left)
		if !want.Equal(p.Expires) {
			v.fail(checkApplied, "period %d of user %d expires at %s, but its grants (%s) make it %s: extended %s",
				p.ID, p.User, p.Expires.UTC().Format(time.RFC3339), grants(p), want.UTC().Format(time.RFC3339),
				map[bool]string{true: "more than they paid for", false: "less than they paid for"}[p.Expires.After(want)])
		}
	}
	v.row(checkApplied, "%d payments (%s) → %d periods, each one's expiry the sum of its grants", len(r.Payments), counts(byHow), len(r.Periods))
	return after
}

func grants(p Period) string {
	var parts []string
	for _, g := range p.Grants {
		parts = append(parts, fmt.Sprintf("%s %+v at %s", g.Key, g.For, g.At.UTC().Format(time.TimeOnly)))
	}
	return strings.Join(parts, ", ")
}

// confirmed checks that each payment a user made during the drive was
// confirmed once: "Payment received, … until <the expiry it left>".
func (v *Verdict) confirmed(r *Records, after map[int64]time.Time) {
	stars, crypto := handlerRepeats(r.Timing), senderRepeats(r.Timing)
	var took latencies
	topUps := map[topUpOf][]PaidRecord{}
	ui := botui.TextsIn(botui.English)
	receipt := func(p PaidRecord) said {
		return said{p.User, fmt.Sprintf(ui.PaymentReceived, ui.Date(after[p.Invoice]))}
	}
	// Payments of a user that left the same expiry (a refund took days
	// back between them) have receipts alike: each is confirmed once.
	alike := map[said]int{}
	for _, p := range r.Payments {
		if p.Invoice != 0 && p.How != PaySeeded && p.How != "unknown" && p.TopUp == 0 {
			alike[receipt(p)]++
		}
	}
	for _, p := range r.Payments {
		if p.Invoice == 0 || p.How == PaySeeded || p.How == "unknown" {
			continue
		}
		if p.TopUp != 0 {
			k := topUpOf{p.User, p.TopUp}
			topUps[k] = append(topUps[k], p)
			continue
		}
		text := receipt(p).content
		times := messageTimes(r.Chats[p.User], func(m sandboxtg.Message) bool { return strings.Contains(m.Plain, text) })
		if n := alike[receipt(p)]; n > 1 {
			if len(times) < n {
				v.fail(checkConfirmed, "user %d's %d payments that left %q were confirmed %d times", p.User, n, text, len(times))
				continue
			}
			times = times[n-1:]
		}
		name := fmt.Sprintf("invoice %d (user %d, %s, paid %s)", p.Invoice, p.User, p.How, clock(p.At.Sub(r.Start)))
		repeats := crypto
		if p.Provider == shop.ProviderStars {
			repeats = stars
		}
		switch {
		case len(times) == 0:
			v.fail(checkConfirmed, "%s was never confirmed (no %q)", name, text)
		case !repeats.excuse(r.Applied, times):
			v.fail(checkConfirmed, "%s was confirmed %d times, at %s, with no fault between to excuse it", name, len(times), clocks(times, r.Start))
		default:
			took = append(took, times[0].Sub(p.At))
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(topUps), func(a, b topUpOf) int { return cmp.Compare(a.user, b.user) }) {
		took = append(took, v.toppedUp(r, k, topUps[k], stars)...)
	}
	v.row(checkConfirmed, "repeats after a fault: Stars %s; Crypto Pay %s",
		stars.summary(r.Applied, r.Start), crypto.summary(r.Applied, r.Start))
	v.info("latency: payment → confirmation", "%s", took)
}

// topUpOf names a user's top-ups of one amount.
type topUpOf struct {
	user, stars int64
}

// toppedUp checks that each of a user's Stars top-ups of one amount was
// confirmed once: its confirmation names the amount, and the balance after
// it, which depends on what else the user did, so the confirmations are
// matched to the payments in time, each to the first one after it; one
// left over is a repeat of the one before it, and must be excused by a
// fault between them. It returns the confirmations' latencies.
func (v *Verdict) toppedUp(r *Records, k topUpOf, payments []PaidRecord, repeats *allowance) latencies {
	text, _, _ := strings.Cut(botui.BalanceTextsIn(botui.English).TopUpReceived, "%s")
	text += botui.Amount(shop.CurrencyXTR, k.stars)
	times := messageTimes(r.Chats[k.user], func(m sandboxtg.Message) bool { return strings.Contains(m.Plain, text) })
	slices.SortFunc(times, time.Time.Compare)
	slices.SortFunc(payments, func(a, b PaidRecord) int { return a.At.Compare(b.At) })
	var took latencies
	used := make([]bool, len(times))
	var told []time.Time // the confirmation matched to each payment
	for _, p := range payments {
		name := fmt.Sprintf("invoice %d (user %d, top-up of %d stars, paid %s)", p.Invoice, p.User, k.stars, clock(p.At.Sub(r.Start)))
		i := slices.IndexFunc(times, func(t time.Time) bool { return !t.Before(p.At.Add(-time.Second)) })
		for i >= 0 && i < len(times) && used[i] {
			i++
		}
		if i < 0 || i == len(times) {
			v.fail(checkConfirmed, "%s was never confirmed (no %q after it)", name, text)
			continue
		}
		used[i] = true
		told = append(told, times[i])
		took = append(took, times[i].Sub(p.At))
	}
	for i, t := range times {
		if used[i] {
			continue
		}
		before := slices.IndexFunc(told, func(c time.Time) bool { return c.After(t) }) - 1
		if before == -2 {
			before = len(told) - 1
		}
		if before < 0 || !repeats.excuse(r.Applied, []time.Time{told[before], t}) {
			v.fail(checkConfirmed, "user %d's top-up of %d stars was confirmed again at %s, with no payment or fault to excuse it",
				k.user, k.stars, clock(t.Sub(r.Start)))
		}
	}
	return took
}

// keys checks that each access's key reached its user once (the key
// message: a photo whose caption holds the key), and that every period that
// runs at the end has a key.
func (v *Verdict) keys(r *Records) {
	repeats := senderRepeats(r.Timing)
	var took latencies
	periods := map[int64]Period{}
	for _, p := range r.Periods {
		periods[p.ID] = p
	}
	live := map[int64]bool{}
	for _, a := range r.Accesses {
		if a.Revoked.IsZero() {
			live[a.Period] = true
		}
		times := keyTimes(r, a)
		name := fmt.Sprintf("the key of period %d (user %d, made %s)", a.Period, a.User, clock(a.Created.Sub(r.Start)))
		switch {
		case len(times) == 0:
			v.fail(checkKeys, "%s was never delivered", name)
		case !repeats.excuse(r.Applied, times):
			v.fail(checkKeys, "%s was delivered %d times, at %s, with no fault between to excuse it", name, len(times), clocks(times, r.Start))
		default:
			if p := periods[a.Period]; p.Starts.After(r.Start) {
				took = append(took, times[0].Sub(p.Starts))
			}
		}
	}
	for _, p := range r.Periods {
		if p.Revoked.IsZero() && p.Expires.After(r.Drained) && !live[p.ID] {
			v.fail(checkKeys, "period %d of user %d runs until %s but has no key", p.ID, p.User, clock(p.Expires.Sub(r.Start)))
		}
	}
	v.row(checkKeys, "%d keys made; delivered again after a fault: %s", len(r.Accesses), repeats.summary(r.Applied, r.Start))
	v.info("latency: new period → key delivered", "%s", took)
}

// keyTimes are when the key of access a was delivered: the key messages to
// its user with its link, sent from its making until the user's next access
// was made. A user keeps one link across periods, so the key of each period
// that follows a revoked one is the same link, delivered once more: each
// access has its own. A message is sent after its access is recorded, so
// the bounds order them without a window.
func keyTimes(r *Records, a Access) []time.Time {
	var next time.Time
	for _, b := range r.Accesses {
		if b.User == a.User && b.Created.After(a.Created) && (next.IsZero() || b.Created.Before(next)) {
			next = b.Created
		}
	}
	return messageTimes(r.Chats[a.User], func(m sandboxtg.Message) bool {
		return len(m.Photo) > 0 && strings.Contains(m.Plain, a.URL) &&
			!m.Date.Before(a.Created) && (next.IsZero() || m.Date.Before(next))
	})
}

// revokeSlack is how late past expiry + grace a key may go when nothing
// holds the revocation up: expiry-cleanup looks every WORKER_INTERVAL, so a
// period falls due at most one interval before an iteration that takes it
// (the other replica's may start a moment too early: a second interval),
// and the panel call and the marking take well under revokeWork.
func revokeSlack(t Timing) time.Duration { return 2*t.WorkerInterval + revokeWork }

const revokeWork = 10 * time.Second

// revokeAllowance is how late a key due at due and seen at seen may go:
// the slack, plus every second of a fault that stops revocations (the panel
// failing, PostgreSQL cut) in between.
func revokeAllowance(r *Records, due, seen time.Time) time.Duration {
	allowed := revokeSlack(r.Timing)
	for _, f := range r.Applied {
		if f.Kind != KindPanel && f.Kind != KindPostgres {
			continue
		}
		from, to := later(f.Began, due), f.Ended
		if seen.Before(to) {
			to = seen
		}
		if to.After(from) {
			allowed += to.Sub(from)
		}
	}
	return allowed
}

// expired checks the revocations: from the database (revoked_at against
// expiry + grace) and from what the panel watch saw.
func (v *Verdict) expired(r *Records) {
	var lag latencies
	for _, p := range r.Periods {
		if p.Revoked.IsZero() {
			continue
		}
		due := p.Expires.Add(r.Timing.Grace)
		if p.Revoked.Before(due) {
			v.fail(checkExpired, "period %d of user %d was revoked at %s, before its expiry + grace %s",
				p.ID, p.User, clock(p.Revoked.Sub(r.Start)), clock(due.Sub(r.Start)))
			continue
		}
		lag = append(lag, p.Revoked.Sub(due))
		if late, allowed := p.Revoked.Sub(due), revokeAllowance(r, due, p.Revoked); late > allowed {
			v.fail(checkExpired, "period %d of user %d was revoked %s past its expiry + grace (allowed %s)", p.ID, p.User, round(late), allowed)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(r.Panel.Overdue)) {
		o := r.Panel.Overdue[id]
		if allowed := revokeAllowance(r, o.Due, o.Seen); o.Late() > allowed {
			v.fail(checkExpired, "period %d's key worked on the panel %s past its expiry + grace, at %s (allowed %s)",
				id, round(o.Late()), clock(o.Seen.Sub(r.Start)), allowed)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(r.Panel.RevokedKept)) {
		v.fail(checkExpired, "period %d was revoked while its key still worked on the panel, at %s", id, clock(r.Panel.RevokedKept[id].Sub(r.Start)))
	}
	v.row(checkExpired, "%d periods revoked; %d keys seen past due, each within its allowance", len(lag), len(r.Panel.Overdue))
	v.info("latency: expiry + grace → revoked", "%s", lag)
}

// orphanAllowance is how long a key may stay on the panel with no access
// recorded for it: activation makes the key before it records it, and an
// orphan (a period revoked before its access was recorded) is revoked by
// expiry-cleanup's reconciliation once unbacked for RECONCILE_ORPHAN_MIN_AGE
// (5 min), which runs every RECONCILE_EVERY (10) iterations.
func orphanAllowance(t Timing) time.Duration { return 5*time.Minute + 11*t.WorkerInterval }

// orphans checks the panel at the end against the database: each working
// key backed by the live access of a running period, and each live access's
// key working there. A user keeps one key across periods: their earlier
// periods' accesses name it too, revoked.
func (v *Verdict) orphans(r *Records) {
	periods := map[int64]Period{}
	for _, p := range r.Periods {
		periods[p.ID] = p
	}
	live, last := map[KeyID]Access{}, map[KeyID]Access{}
	for _, a := range r.Accesses {
		if a.Period > last[a.Key].Period {
			last[a.Key] = a
		}
		if a.Revoked.IsZero() && periods[a.Period].Revoked.IsZero() {
			live[a.Key] = a
		}
	}
	onPanel := map[KeyID]bool{}
	young := 0
	for _, k := range r.PanelKeys {
		key := k.KeyID
		onPanel[key] = true
		a, isLive := live[key]
		p := periods[a.Period]
		_, known := last[key]
		switch {
		case isLive:
			if r.Drained.After(p.Expires.Add(r.Timing.Grace + revokeAllowance(r, p.Expires.Add(r.Timing.Grace), r.Drained))) {
				v.fail(checkOrphans, "key %s of period %d works on the panel at the end, past its expiry + grace", key, a.Period)
			}
		case known:
			v.fail(checkOrphans, "key %s of period %d works on the panel though the period was revoked", key, last[key].Period)
		default:
			first, seen := r.Panel.Unbacked[key]
			if !seen || r.Drained.Sub(first) <= orphanAllowance(r.Timing) {
				young++
				continue
			}
			v.fail(checkOrphans, "key %s works on the panel with no period behind it since %s", key, clock(first.Sub(r.Start)))
		}
	}
	for key, a := range live {
		if !onPanel[key] {
			v.fail(checkOrphans, "period %d of user %d is live, but its key %s does not work on the panel", a.Period, a.User, key)
		}
	}
	v.row(checkOrphans, "%d keys working on the panels at the end; %d not yet recorded, younger than the reconciliation's %s", len(r.PanelKeys), young, orphanAllowance(r.Timing))
}

// keyIntro is what the key message writes before the key, as the user
// reads it.
var keyIntro, _, _ = strings.Cut(botui.TextsIn(botui.English).KeyIntro, "<code>")

// shownKey is the key a key message (notify.KeyReady: a QR code, and the
// key after keyIntro) hands the user, "" for any other message.
func shownKey(m sandboxtg.Message) string {
	if len(m.Photo) == 0 {
		return ""
	}
	_, rest, ok := strings.Cut(m.Plain, keyIntro)
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(rest, "\n")
	return key
}

// oneLink checks that a user keeps one account, and so one link, for life
// (vpn_accounts): (a) no user has two working accounts across the panels,
// as the watch saw them and as they are at the end; (b) every key message a
// user got carries the same link, since soak users never ask for a new one
// (a new key the admin gave a user, from their card, is one more link).
// Neither has an allowance. A new user's placement is claimed in the
// database before the account is made, so activations racing on both
// replicas, or a retry after a kill or a cut of PostgreSQL, make the
// account where the claim says; the claim moves only off a panel that
// refused to make it, and the soak's panel fault refuses before the panel
// acts. A user's link changes only when the panel lost the account and
// activation made it again, and the soak takes no account away.
func (v *Verdict) oneLink(r *Records) {
	doubled := maps.Clone(r.Panel.Doubled)
	if doubled == nil {
		doubled = map[int64]Doubled{}
	}
	atEnd := map[int64][]KeyID{}
	for _, k := range r.PanelKeys {
		if user, ok := vpn.AccountUser(vpn.DefaultNamePrefix, k.Name); ok {
			atEnd[user] = append(atEnd[user], k.KeyID)
		}
	}
	for user, keys := range atEnd {
		if _, seen := doubled[user]; !seen && len(keys) > 1 {
			doubled[user] = Doubled{Seen: r.Drained, Keys: keys}
		}
	}
	for _, user := range slices.Sorted(maps.Keys(doubled)) {
		d := doubled[user]
		v.fail(checkOneLink, "user %d had %d working accounts at once (%s), seen at %s",
			user, len(d.Keys), keyList(d.Keys), clock(d.Seen.Sub(r.Start)))
	}

	given, twice := 0, 0
	for _, chat := range slices.Sorted(maps.Keys(r.Chats)) {
		var links []string
		var times []time.Time
		for _, m := range r.Chats[chat] {
			if k := shownKey(m); k != "" {
				times = append(times, m.Date)
				if !slices.Contains(links, k) {
					links = append(links, k)
				}
			}
		}
		if len(links) > 0 {
			given++
		}
		if len(links) > 1+r.Admin.reissued(chat) {
			twice++
			v.fail(checkOneLink, "user %d was given %d links in %d key messages, at %s: %s",
				chat, len(links), len(times), clocks(times, r.Start), strings.Join(links, ", "))
		}
	}
	byPanel := map[string]int{}
	for _, key := range lastKeys(r.Accesses) {
		byPanel[key.Panel]++
	}
	v.row(checkOneLink, "%d users given a key (their accounts: %s); given more than one link: %d; with two working accounts at once: %d",
		given, counts(byPanel), twice, len(doubled))
}

// lastKeys is each user's key as their latest access names it.
func lastKeys(accesses []Access) map[int64]KeyID {
	latest := map[int64]Access{}
	for _, a := range accesses {
		if a.Period > latest[a.User].Period {
			latest[a.User] = a
		}
	}
	out := map[int64]KeyID{}
	for user, a := range latest {
		out[user] = a.Key
	}
	return out
}

func keyList(keys []KeyID) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.String()
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// content is what makes two messages the same message: text, photo and
// invoice.
func content(m sandboxtg.Message) string {
	var inv string
	if m.Invoice != nil {
		inv = m.Invoice.Payload
	}
	return fmt.Sprintf("%s\x00%x\x00%s", m.Plain, m.Photo, inv)
}

// sentOnce checks each command in the sender's sent-log: its message is in
// the chat, and no other message of the bot there that is not a reply has
// the same content (the users never press the buttons of what the sender
// sent, so those messages stay as sent; see user.screen).
func (v *Verdict) sentOnce(r *Records, copies map[said]int) {
	repeats := senderRepeats(r.Timing)
	kinds := map[string]int{}
	// Two commands may say the same (a reminder sent late, then the next
	// stage's a moment after, both "in 5 minutes"), and so may a command
	// and a message of the bot-handler's (a Crypto Pay payment's receipt
	// and a Stars payment's that left the same expiry, after a refund took
	// days back): a chat's messages of one content are repeats only beyond
	// the commands and the bot-handler's copies sent with it.
	commands := maps.Clone(copies)
	for _, s := range r.SentLog {
		msgs := r.Chats[s.Chat]
		if i := slices.IndexFunc(msgs, func(m sandboxtg.Message) bool { return m.ID == s.MessageID }); i >= 0 {
			commands[said{s.Chat, content(msgs[i])}]++
		}
	}
	for _, s := range r.SentLog {
		kind, _, _ := strings.Cut(s.DedupID, ":")
		kinds[kind]++
		msgs := r.Chats[s.Chat]
		i := slices.IndexFunc(msgs, func(m sandboxtg.Message) bool { return m.ID == s.MessageID })
		if i < 0 {
			v.fail(checkSentOnce, "command %s is recorded as sent as message %d, which chat %d does not have", s.DedupID, s.MessageID, s.Chat)
			continue
		}
		same := content(msgs[i])
		times := messageTimes(msgs, func(m sandboxtg.Message) bool {
			return m.ReplyTo == 0 && content(m) == same && !(s.Chat == adminID && slices.Contains(r.Admin.Previews, m.ID))
		})
		if n := commands[said{s.Chat, same}]; n > 1 {
			times = times[min(n-1, len(times)-1):]
		}
		if !repeats.excuse(r.Applied, times) {
			v.fail(checkSentOnce, "command %s was sent %d times to chat %d, at %s, with no fault between to excuse it",
				s.DedupID, len(times), s.Chat, clocks(times, r.Start))
		}
	}
	v.row(checkSentOnce, "%d commands sent (%s); sent again after a fault: %s; sent but not recorded: %d",
		len(r.SentLog), counts(kinds), repeats.summary(r.Applied, r.Start), r.Logs.SentNotRecorded)
}

// said is a chat's messages of one content.
type said struct {
	chat    int64
	content string
}

// starsCopies counts, by chat and content, the bot-handler's receipts of
// Stars payments: each payment's receipt names the expiry it left.
func starsCopies(r *Records, after map[int64]time.Time) map[said]int {
	copies := map[said]int{}
	ui := botui.TextsIn(botui.English)
	for _, p := range r.Payments {
		if p.Provider != shop.ProviderStars || p.TopUp != 0 || p.Invoice == 0 || p.How == PaySeeded {
			continue
		}
		text := fmt.Sprintf(ui.PaymentReceived, ui.Date(after[p.Invoice]))
		seen := map[string]bool{}
		for _, m := range r.Chats[p.User] {
			if c := content(m); m.ReplyTo == 0 && strings.Contains(m.Plain, text) && !seen[c] {
				seen[c] = true
				copies[said{p.User, c}]++
			}
		}
	}
	return copies
}

// broadcastDedupID is the dedup id of a broadcast's message to a user, as
// the bot-handler makes it (bot.BroadcastDedupID).
func broadcastDedupID(broadcast, user int64) string {
	return fmt.Sprintf("broadcast:%d:%d", broadcast, user)
}

func (v *Verdict) broadcasts(r *Records) {
	sent := map[string]bool{}
	for _, s := range r.SentLog {
		sent[s.DedupID] = true
	}
	n := 0
	for _, b := range r.Broadcasts {
		for _, u := range b.Recipients {
			n++
			if !sent[broadcastDedupID(b.ID, u)] {
				v.fail(checkBroadcasts, "broadcast %d never reached user %d", b.ID, u)
			}
		}
	}
	v.row(checkBroadcasts, "%d broadcasts to %d recipients in all", len(r.Broadcasts), n)
}

// attachWindow is how long after Crypto Pay made an invoice a fault may
// still keep it from its order: the bot-handler attaches it right after the
// call returns, within the press's deadline.
const attachWindow = 30 * time.Second

// providerOrphans is when Crypto Pay may hold an invoice no order has: a
// bot-handler killed, or PostgreSQL cut, between Crypto Pay's answer and
// the attach; the press is retried, and its order gets an invoice made
// again. One per press in flight, and a replica has one per partition.
func providerOrphans(t Timing) *allowance {
	return &allowance{
		may:     oneOf(isKillOf("bot-handler"), isKind(KindPostgres)),
		perItem: func(Applied) int { return 1 },
		total:   func(Applied) int { return t.Partitions },
		charged: map[int]int{},
	}
}

// offers checks the one-order-on-offer rule from both ends: every invoice
// at Crypto Pay is attached to an order (repeated presses reuse the order
// and its invoice instead of making more), and no user had two orders of
// one plan on offer.
func (v *Verdict) offers(r *Records) {
	attached := map[int64]bool{}
	onOffer := map[string][]int64{}
	for _, o := range r.Orders {
		if o.External != 0 {
			attached[o.External] = true
		}
		if o.OnOffer {
			key := fmt.Sprintf("user %d, plan %s", o.User, o.Plan)
			onOffer[key] = append(onOffer[key], o.ID)
		}
	}
	orphans := providerOrphans(r.Timing)
	for _, inv := range r.ProviderInvoices {
		if attached[inv.ID] {
			continue
		}
		if !orphans.excuse(r.Applied, []time.Time{inv.Created, inv.Created.Add(attachWindow)}) {
			v.fail(checkOffers, "Crypto Pay invoice %d, made at %s, is no order's, with no fault to excuse it",
				inv.ID, clock(inv.Created.Sub(r.Start)))
		}
	}
	for _, key := range slices.Sorted(maps.Keys(onOffer)) {
		if ids := onOffer[key]; len(ids) > 1 {
			v.fail(checkOffers, "%s: %d orders on offer at once (%v)", key, len(ids), ids)
		}
	}
	v.row(checkOffers, "%d Crypto Pay invoices for %d orders; no order's after a fault: %s",
		len(r.ProviderInvoices), len(r.Orders), orphans.summary(r.Applied, r.Start))
}

// ledger checks the ledger's invariants, as the database showed them.
func (v *Verdict) ledger(r *Records) {
	l := r.Ledger
	for _, m := range l.Mismatched {
		v.fail(checkLedger, "%s: the balance is not the sum of its rows", m)
	}
	for _, n := range l.Negative {
		v.fail(checkLedger, "%s: a negative balance", n)
	}
	for _, id := range l.Unrecorded {
		v.fail(checkLedger, "invoice %d is paid, but the ledger has no row of its payment", id)
	}
	for _, id := range l.Unpaid {
		v.fail(checkLedger, "the ledger records a payment of invoice %d, which is not paid", id)
	}
	for _, p := range l.Referrals {
		v.fail(checkLedger, "referral reward: %s", p)
	}
	for _, p := range l.Promos {
		v.fail(checkLedger, "%s", p)
	}
	if l.RepeatedRenewals > 0 {
		v.fail(checkLedger, "%d renewals came within the cycle an earlier renewal of their period paid for", l.RepeatedRenewals)
	}
	rows := map[string]int{}
	for k, n := range l.Rows {
		rows[k] = n
	}
	v.row(checkLedger, "rows: %s; balances: $%s, %d ⭐", counts(rows), shop.FormatCents(l.Balances[shop.CurrencyUSD]),
		l.Balances[shop.CurrencyXTR])
}

func (v *Verdict) limits(r *Records) {
	for _, f := range r.Floods {
		scope := "the chat's"
		if f.Global {
			scope = "the bot-wide"
		}
		v.fail(checkLimits, "%s to chat %d at %s went over %s flood limit (429)", f.Method, f.ChatID, clock(f.At.Sub(r.Start)), scope)
	}
	v.row(checkLimits, "429s from the flood limits: %d; injected by the schedule: %d; FLOOD_WAIT logged: %d",
		len(r.Floods), r.Injected429, r.Logs.FloodWaits)
}

func (v *Verdict) deadLetters(r *Records) {
	for _, e := range r.DLQ {
		v.fail(checkDLQ, "%s %s (message %s) dead-lettered at %s after %d deliveries: %s: %s",
			e.Stream, e.Subject, e.MsgID, clock(e.Time.Sub(r.Start)), e.Deliveries, e.Reason, e.Error)
	}
	reasons := map[string]int{}
	for _, e := range r.DLQ {
		reasons[e.Reason]++
	}
	v.row(checkDLQ, "%d dead letters%s", len(r.DLQ), parenthesized(counts(reasons)))
}

func (v *Verdict) restarts(r *Records) {
	for _, x := range r.Restarts {
		v.fail(checkRestarts, "%s exited on its own at %s (%v)", x.Label, clock(x.At.Sub(r.Start)), x.Exit.Err)
	}
	kills := 0
	for _, f := range r.Applied {
		if f.Kind != KindKill {
			continue
		}
		kills++
		if f.Err != nil {
			v.fail(checkRestarts, "%s at %s: %v", f.Fault, clock(f.Began.Sub(r.Start)), f.Err)
		}
	}
	v.row(checkRestarts, "%d killed and started again by the schedule; %d exits of their own", kills, len(r.Restarts))
}

func (v *Verdict) drained(r *Records) {
	if len(r.DrainLeft) > 0 {
		v.fail(checkDrained, "still in flight %s after the drive: %s", round(r.Drained.Sub(r.DriveEnd)), strings.Join(r.DrainLeft, "; "))
	}
	v.row(checkDrained, "in %s", round(r.Drained.Sub(r.DriveEnd)))
}

// coverage is the vacuity guard: a soak in which the users paid no way, or
// no key was revoked, or a fault never played, or a panel held no user's
// account, has not checked what its table claims.
func (v *Verdict) coverage(r *Records) {
	need := map[string]int{
		"answered updates": 0, "trials": 0, "Crypto Pay payments by webhook": 0, "Crypto Pay payments by poll": 0,
		"Stars payments": 0, "Stars payments in the Mini App": 0, "keys delivered": 0, "periods revoked": 0, "broadcasts": len(r.Broadcasts),
	}
	for _, u := range r.Updates {
		if len(u.Answers) > 0 {
			need["answered updates"]++
		}
	}
	for _, p := range r.Payments {
		switch p.How {
		case PayWebhook:
			need["Crypto Pay payments by webhook"]++
		case PayPoll:
			need["Crypto Pay payments by poll"]++
		case PayStars:
			need["Stars payments"]++
		case PayMiniApp:
			need["Stars payments in the Mini App"]++
		}
	}
	for _, p := range r.Periods {
		if p.Kind == shop.KindTrial || slices.ContainsFunc(p.Grants, func(g Grant) bool { return g.Kind == shop.LedgerTrial }) {
			need["trials"]++
		}
		if !p.Revoked.IsZero() {
			need["periods revoked"]++
		}
	}
	for _, s := range r.SentLog {
		if strings.HasPrefix(s.DedupID, "key:") {
			need["keys delivered"]++
		}
	}
	for _, k := range []Kind{KindKill, KindNATS, KindPostgres, KindPanel, KindTelegram} {
		n := 0
		for _, f := range r.Applied {
			if f.Kind == k && f.Err == nil {
				n++
			}
		}
		need[string(k)+" faults"] = n
	}
	need["top-ups"] = r.Ledger.Rows[shop.LedgerTopUp]
	need["purchases from the balance"] = r.Ledger.Rows[shop.LedgerPurchase]
	need["referral rewards"] = r.Ledger.Rows[shop.LedgerReferral]
	need["promo codes used"] = r.Ledger.Rows[shop.LedgerPromo]
	need["automatic renewals"] = r.Ledger.Rows[shop.LedgerRenewal]
	for _, panel := range r.Panels {
		need["accounts on "+panel] = 0
	}
	for _, key := range lastKeys(r.Accesses) {
		if _, ok := need["accounts on "+key.Panel]; ok {
			need["accounts on "+key.Panel]++
		}
	}
	for _, what := range slices.Sorted(maps.Keys(need)) {
		if need[what] == 0 {
			v.fail(checkCoverage, "no %s", what)
		}
	}
	v.row(checkCoverage, "%s", counts(need))
}

// Recovery is how long after a fault ended the last piece of work it
// caught in flight was done: an update answered, a payment confirmed, a
// key delivered.
type Recovery struct {
	Fault    Applied
	Affected int
	// After is from the fault's end to the last of them done; 0 when all
	// were done before it ended.
	After time.Duration
	// Undone counts what was never done (each a violation of its own).
	Undone int
}

// recovery measures, for each fault, the work it caught in flight: begun
// before the fault ended and not done before it began.
func (v *Verdict) recovery(r *Records) {
	type work struct{ begun, done time.Time }
	var all []work
	for _, u := range r.Updates {
		if r.Admin.inBan(u) {
			continue // a banned user's: left unanswered by design
		}
		var done time.Time
		if len(u.Answers) > 0 {
			done = u.Answers[0]
		}
		all = append(all, work{u.At, done})
	}
	for _, p := range r.Periods {
		if !p.Starts.After(r.Start) {
			continue
		}
		w := work{begun: p.Starts}
		for _, a := range r.Accesses {
			if a.Period == p.ID {
				if t := keyTimes(r, a); len(t) > 0 {
					w.done = t[0]
				}
			}
		}
		all = append(all, w)
	}
	applied := slices.Clone(r.Applied)
	slices.SortFunc(applied, func(a, b Applied) int { return a.Began.Compare(b.Began) })
	for _, f := range applied {
		rec := Recovery{Fault: f}
		var last time.Time
		for _, w := range all {
			if w.begun.After(f.Ended) || (!w.done.IsZero() && w.done.Before(f.Began)) {
				continue
			}
			rec.Affected++
			if w.done.IsZero() {
				rec.Undone++
			} else if w.done.After(last) {
				last = w.done
			}
		}
		if last.After(f.Ended) {
			rec.After = last.Sub(f.Ended)
		}
		v.Recovery = append(v.Recovery, rec)
	}
}

// messageTimes are the send times of the messages ok accepts, oldest first.
func messageTimes(msgs []sandboxtg.Message, ok func(sandboxtg.Message) bool) []time.Time {
	var out []time.Time
	for _, m := range msgs {
		if ok(m) {
			out = append(out, m.Date)
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

func clocks(ts []time.Time, start time.Time) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = clock(t.Sub(start))
	}
	return strings.Join(parts, ", ")
}

// counts writes a map of counts as "a 1, b 2", by key.
func counts(m map[string]int) string {
	var b bytes.Buffer
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, m[k])
	}
	return b.String()
}

func parenthesized(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}
