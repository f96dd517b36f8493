package main

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// sampleEvery paces the panel watch.
const sampleEvery = 3 * time.Second

// Overdue is a key seen on the panel after its period's expiry and grace:
// the worst such sighting of the period.
type Overdue struct {
	Period int64
	Due    time.Time // expiry + grace, when the key should have gone
	Seen   time.Time
}

// Late is how long past due the key was seen.
func (o Overdue) Late() time.Duration { return o.Seen.Sub(o.Due) }

// Doubled is a user seen with more than one working account across the
// panels: when first seen so, and those accounts.
type Doubled struct {
	Seen time.Time
	Keys []KeyID
}

// PanelView is what the panel watch saw.
type PanelView struct {
	// Overdue is each period whose key was seen past due, at its worst.
	Overdue map[int64]Overdue
	// RevokedKept is each period seen revoked in the database, with no
	// later period of its user, while its key still worked on the panel,
	// when first seen so: a revocation marks the period only after the
	// panel blocked the key, so never.
	RevokedKept map[int64]time.Time
	// Unbacked is each key working on the panel that no live access
	// recorded in the database backs, when first seen so (activation
	// enables a key before it records the access, so a young one is on its
	// way); only those still unbacked at the last look are kept.
	Unbacked map[KeyID]time.Time
	// Doubled is each user seen with more than one working account across
	// the panels, as first seen so.
	Doubled map[int64]Doubled
}

// panelWatch compares the panels with the database every sampleEvery.
type panelWatch struct {
	pool   *pgxpool.Pool
	panels []localstack.SandboxPanel
	grace  time.Duration
	log    zerolog.Logger

	mu   sync.Mutex
	view PanelView
}

func newPanelWatch(pool *pgxpool.Pool, panels []localstack.SandboxPanel, grace time.Duration, log zerolog.Logger) *panelWatch {
	return &panelWatch{pool: pool, panels: panels, grace: grace, log: log, view: PanelView{
		Overdue: map[int64]Overdue{}, RevokedKept: map[int64]time.Time{}, Unbacked: map[KeyID]time.Time{},
		Doubled: map[int64]Doubled{},
	}}
}

// run samples until ctx ends.
func (w *panelWatch) run(ctx context.Context) {
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for {
		if err := w.sample(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn().Err(err).Msg("sampling the panels")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// keyRow is what the database says of a user's key: their latest period,
// and whether its access is live.
type keyRow struct {
	period  int64
	active  bool // the period is active
	live    bool // and its access recorded, not revoked
	revoked bool // the period is revoked after its access was recorded
	expires time.Time
}

// keyRowsSQL reads each user's key (their account, on its panel) with their
// latest period and its access.
const keyRowsSQL = `
SELECT c.panel, c.external_id, s.id, s.status = 'active', a.subscription_id IS NOT NULL AND a.revoked_at IS NULL,
       s.status = 'revoked' AND a.revoked_at IS NOT NULL, s.expires_at
FROM vpn_accounts c
JOIN LATERAL (SELECT * FROM subscriptions WHERE user_id = c.user_id ORDER BY id DESC LIMIT 1) s ON true
LEFT JOIN vpn_accesses a ON a.subscription_id = s.id`

// sample looks at the database first, then at the panels: a key that still
// works after its period was seen revoked worked after the revocation, not
// before it. Only working keys count: revocation blocks a user's key, which
// stays on its panel for their next period.
func (w *panelWatch) sample(ctx context.Context) error {
	rows, err := w.pool.Query(ctx, keyRowsSQL)
	if err != nil {
		return err
	}
	byKey := map[KeyID]keyRow{}
	var key KeyID
	var r keyRow
	if _, err := pgx.ForEachRow(rows, []any{&key.Panel, &key.ID, &r.period, &r.active, &r.live, &r.revoked, &r.expires}, func() error {
		byKey[key] = r
		return nil
	}); err != nil {
		return err
	}
	now := time.Now()
	keys := workingKeys(w.panels)

	w.mu.Lock()
	defer w.mu.Unlock()
	unbacked := map[KeyID]time.Time{}
	byUser := map[int64][]KeyID{}
	for _, k := range keys {
		if user, ok := vpn.AccountUser(vpn.DefaultNamePrefix, k.Name); ok {
			byUser[user] = append(byUser[user], k.KeyID)
		}
		a := byKey[k.KeyID]
		switch {
		case a.live && now.After(a.expires.Add(w.grace)):
			o := Overdue{Period: a.period, Due: a.expires.Add(w.grace), Seen: now}
			if o.Late() > w.view.Overdue[a.period].Late() {
				w.view.Overdue[a.period] = o
			}
		case a.live:
		case a.revoked:
			if _, seen := w.view.RevokedKept[a.period]; !seen {
				w.view.RevokedKept[a.period] = now
			}
		default:
			first, seen := w.view.Unbacked[k.KeyID]
			if !seen {
				first = now
			}
			unbacked[k.KeyID] = first
		}
	}
	w.view.Unbacked = unbacked
	for user, ids := range byUser {
		if _, seen := w.view.Doubled[user]; !seen && len(ids) > 1 {
			w.view.Doubled[user] = Doubled{Seen: now, Keys: ids}
		}
	}
	return nil
}

// workingKeys lists the keys working on the panels: not blocked.
func workingKeys(panels []localstack.SandboxPanel) []PanelKey {
	var out []PanelKey
	for _, p := range panels {
		for _, k := range p.Keys() {
			if !k.Blocked() {
				out = append(out, PanelKey{KeyID: KeyID{Panel: p.Name, ID: k.ID}, Name: k.Name})
			}
		}
	}
	return out
}

// View returns what the watch saw so far.
func (w *panelWatch) View() PanelView {
	w.mu.Lock()
	defer w.mu.Unlock()
	return PanelView{
		Overdue:     maps.Clone(w.view.Overdue),
		RevokedKept: maps.Clone(w.view.RevokedKept),
		Unbacked:    maps.Clone(w.view.Unbacked),
		Doubled:     maps.Clone(w.view.Doubled),
	}
}
