package cleanup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/store"
)

// Kinds of drift reconciliation repairs, as the drift metric's kind label
// and the PANEL_DRIFT_REPAIRED line's drift field name them.
const (
	// DriftMissing is a paid-for account gone from the panel: re-created.
	DriftMissing = "missing"
	// DriftDisabled is a paid-for account disabled on the panel: enabled.
	DriftDisabled = "disabled"
	// DriftExpiry is a paid-for account whose expiry or limit on the panel
	// is not the period's: corrected.
	DriftExpiry = "expiry"
	// DriftLink is an account whose link was changed on the panel: the new
	// one recorded, so that the bot shows the link that works.
	DriftLink = "link"
	// DriftUnpaid is an account working on the panel that no period pays
	// for: disabled.
	DriftUnpaid = "unpaid"
	// DriftOrphan is an account of ours the database does not know (made by
	// an activation that never recorded it): deleted.
	DriftOrphan = "orphan"
)

// expiryMargin keeps reconciliation off periods that end within it: near
// its end, an account is the panel's own expiry's and revocation's.
const expiryMargin = 5 * time.Minute

// reconcile makes the panel match the database both ways, in one pass
// over the panel's list of our accounts (page by page): every account of a
// live period enabled until its period's end, missing ones re-created,
// links changed on the panel recorded; accounts working with nothing
// paying for them disabled, and accounts the database does not know
// deleted. Accounts that nothing backs are only acted on after they were
// seen so for OrphanMinAge without a break, which covers the window between
// an activation's panel call and its record. Each repair is counted in
// vpnbot_panel_drift_repaired_total and logged once as PANEL_DRIFT_REPAIRED;
// at most BatchSize repairs are made a pass, the rest in the next.
func (c *Cleaner) reconcile(ctx context.Context, res worker.Result) error {
	var errs []error
	for _, m := range c.fleet.Members() {
		if err := c.reconcilePanel(ctx, m, res); err != nil {
			errs = append(errs, fmt.Errorf("reconciling %s: %w", m.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// reconcilePanel is one reconciliation pass over one panel.
func (c *Cleaner) reconcilePanel(ctx context.Context, m *vpn.Member, res worker.Result) error {
	start := c.cfg.NowFunc()
	accounts, err := listAccounts(ctx, m)
	if err != nil {
		c.countPanelError(err)
		return err
	}
	names := make([]string, 0, len(accounts))
	byName := make(map[string]vpn.Account, len(accounts))
	for _, a := range accounts {
		names = append(names, a.Name)
		byName[a.Name] = a
	}
	panel := m.Name()
	recorded, err := c.store.Accounts(ctx, panel, names)
	if err != nil {
		return err
	}
	now := c.cfg.NowFunc()
	var unbacked []string
	r := repairs{c: c, m: m, budget: c.cfg.BatchSize}
	for _, a := range accounts {
		rec, known := recorded[a.Name]
		switch {
		case !known:
			unbacked = append(unbacked, a.Name)
		case rec.SubscriptionID == 0:
			if a.Enabled {
				unbacked = append(unbacked, a.Name)
			}
		case rec.Live && rec.Settled && rec.ExpiresAt.After(now.Add(expiryMargin)):
			r.live(ctx, a, rec)
		}
	}
	due, waiting := c.orphansDue(panel, unbacked, now)
	for _, name := range due {
		rec, known := recorded[name]
		a := byName[name]
		if known {
			r.unpaid(ctx, a, rec)
		} else {
			r.orphan(ctx, a)
		}
	}
	missing, err := c.store.Unlisted(ctx, panel, names, start, now.Add(expiryMargin), max(r.budget, 0))
	if err != nil {
		r.errs = append(r.errs, err)
	}
	for _, rec := range missing {
		r.missing(ctx, rec)
	}

	res[ItemOrphansRevoked] += r.counts[DriftOrphan]
	res[ItemOrphansWaiting] += waiting
	res[ItemDriftRepaired] += r.total
	c.unbacked.WithLabelValues(panel).Set(float64(len(due) - r.counts[DriftOrphan] - r.counts[DriftUnpaid] + waiting))
	ev := c.log.Info().Ctx(ctx)
	if r.total > 0 || len(r.errs) > 0 {
		ev = c.log.Warn().Ctx(ctx) // the panel and the database had drifted apart
	}
	ev.Str("event", EventOrphansRevoked).Int("count", r.counts[DriftOrphan]).Int("repaired", r.total).
		Int("failed", len(r.errs)).Int("waiting", waiting).Int("panel_accounts", len(accounts)).Str("panel", panel).
		Msg("reconciliation with the panel done")
	if len(r.errs) > 0 {
		return fmt.Errorf("%d repairs failed: %w", len(r.errs), errors.Join(r.errs...))
	}
	return nil
}

// listAccounts reads every page of the panel's list of our accounts.
func listAccounts(ctx context.Context, m *vpn.Member) ([]vpn.Account, error) {
	var out []vpn.Account
	cursor := ""
	for {
		page, err := m.Accounts(ctx, cursor)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Accounts...)
		if page.Next == "" {
			return out, nil
		}
		cursor = page.Next
	}
}

// repairs makes one pass's repairs, within its budget, counting them.
type repairs struct {
	c      *Cleaner
	m      *vpn.Member
	budget int
	total  int
	counts map[string]int
	errs   []error
}

// take spends one repair of the budget; false when it is spent.
func (r *repairs) take() bool {
	if r.budget <= 0 {
		return false
	}
	r.budget--
	return true
}

// done counts a repair made and logs it.
func (r *repairs) done(ctx context.Context, drift string, a store.Account, detail string) {
	if r.counts == nil {
		r.counts = map[string]int{}
	}
	r.counts[drift]++
	r.total++
	r.c.driftRepaired.WithLabelValues(r.m.Name(), drift).Inc()
	r.c.log.Warn().Ctx(ctx).Str("event", EventPanelDriftRepaired).Str("drift", drift).Str("panel", r.m.Name()).
		Str("account", a.Name).Int64("user_id", a.UserID).Int64("subscription_id", a.SubscriptionID).
		Msg(detail)
}

// fail records a repair that failed.
func (r *repairs) fail(err error) {
	r.c.countPanelError(err)
	r.errs = append(r.errs, err)
}

// live repairs the account of a live period: enabled until the period's
// end, and its link as recorded.
func (r *repairs) live(ctx context.Context, a vpn.Account, rec store.Account) {
	// Marzban answers a new, equally valid subscription URL every time it
	// is asked: only a new id says its link changed there.
	urlChanged := a.URL != rec.URL && r.m.Kind() != vpn.KindMarzban
	if a.ID != rec.ExternalID || urlChanged {
		if !r.take() {
			return
		}
		if err := r.c.store.RecordLink(ctx, rec, a.ID, a.URL); err != nil {
			r.fail(err)
			return
		}
		r.done(ctx, DriftLink, rec, "the account's link was changed on the panel: the new one recorded")
	}
	want := vpn.State{Enabled: true, ExpiresAt: rec.ExpiresAt}
	if a.Matches(want) || !r.take() {
		return
	}
	drift, detail := DriftExpiry, "the account's expiry or limit on the panel was not the period's: corrected"
	if !a.Enabled {
		drift, detail = DriftDisabled, "a paid-for account was disabled on the panel: enabled"
	}
	if _, err := r.m.SetAccount(ctx, a.Ref(), want); err != nil {
		r.fail(fmt.Errorf("repairing account %s: %w", a.Name, err))
		return
	}
	r.done(ctx, drift, rec, detail)
}

// unpaid disables an account working with no active period of its user.
func (r *repairs) unpaid(ctx context.Context, a vpn.Account, rec store.Account) {
	if !r.take() {
		return
	}
	if err := r.c.shop.DisableAccount(ctx, rec.UserID, a.Ref(), a.ExpiresAt, r.m); err != nil {
		r.fail(err)
		return
	}
	r.c.forgetOrphan(r.m.Name(), a.Name)
	r.done(ctx, DriftUnpaid, rec, "an account working with no period paying for it: disabled")
}

// orphan deletes an account of ours the database does not know.
func (r *repairs) orphan(ctx context.Context, a vpn.Account) {
	if !r.take() {
		return
	}
	if err := r.m.DeleteAccount(ctx, a.Ref()); err != nil {
		r.fail(fmt.Errorf("deleting orphan account %s: %w", a.Name, err))
		return
	}
	r.c.forgetOrphan(r.m.Name(), a.Name)
	r.done(ctx, DriftOrphan, store.Account{Name: a.Name}, "an account no user's record names: deleted from the panel")
}

// missing re-creates the account of a live period that the panel lost.
func (r *repairs) missing(ctx context.Context, rec store.Account) {
	if !r.take() {
		return
	}
	if _, err := r.m.Account(ctx, vpn.Ref{ID: rec.ExternalID, Name: rec.Name}); !errors.Is(err, vpn.ErrNotFound) {
		if err != nil {
			r.fail(fmt.Errorf("checking missing account %s: %w", rec.Name, err))
		}
		return // listed after all: created or changed during the pass
	}
	if _, err := r.c.shop.Reactivate(ctx, rec.SubscriptionID, r.c.fleet); err != nil {
		r.fail(err)
		return
	}
	r.done(ctx, DriftMissing, rec, "a paid-for account was gone from the panel: re-created")
}

// orphansDue records the unbacked accounts among names on panel and returns
// those unbacked for OrphanMinAge (sorted, to repair in a stable order) and
// how many others wait. The panel's accounts backed now, or gone from it,
// are forgotten: an unbacked streak must be unbroken.
func (c *Cleaner) orphansDue(panel string, names []string, now time.Time) (due []string, waiting int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := c.orphans[panel]
	if seen == nil {
		seen = map[string]time.Time{}
		c.orphans[panel] = seen
	}
	unbacked := make(map[string]bool, len(names))
	for _, name := range names {
		unbacked[name] = true
		first, ok := seen[name]
		if !ok {
			seen[name] = now
			first = now
		}
		if now.Sub(first) >= c.cfg.OrphanMinAge {
			due = append(due, name)
		} else {
			waiting++
		}
	}
	for name := range seen {
		if !unbacked[name] {
			delete(seen, name)
		}
	}
	slices.Sort(due)
	return due, waiting
}

// forgetOrphan drops an unbacked account of panel once it is repaired.
func (c *Cleaner) forgetOrphan(panel, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.orphans[panel], name)
}
