package cleanup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vpnbot/vpnbot/pkg/worker"
)

// reconcile revokes the panel's accesses that no active period backs and
// have been unbacked for OrphanMinAge. The panel is listed before the
// database is read, so an access recorded in between counts as backed; one
// created but not yet recorded (activation's window) waits out the age.
func (c *Cleaner) reconcile(ctx context.Context, res worker.Result) error {
	accesses, err := c.panel.List(ctx)
	if err != nil {
		if isPanelError(err) {
			c.panelErrors.Inc()
		}
		return fmt.Errorf("reconciling: %w", err)
	}
	ids := make([]string, 0, len(accesses))
	for _, a := range accesses {
		ids = append(ids, a.ID)
	}
	backed, err := c.store.Backed(ctx, c.panel.Name(), ids)
	if err != nil {
		return fmt.Errorf("reconciling: %w", err)
	}
	due, waiting := c.orphansDue(ids, backed, c.cfg.NowFunc())

	revoked := 0
	var errs []error
	for _, id := range due {
		if err := c.panel.Revoke(ctx, id); err != nil {
			if isPanelError(err) {
				c.panelErrors.Inc()
			}
			errs = append(errs, err)
			continue
		}
		c.forgetOrphan(id)
		c.log.Warn().Str("event", EventAccessRevoked).Str("reason", "orphan").Str("panel", c.panel.Name()).
			Str("access_id", id).Msg("access no active subscription backs revoked from the panel")
		revoked++
	}
	res[ItemOrphansRevoked] += revoked
	res[ItemOrphansWaiting] += waiting
	c.unbacked.Set(float64(len(due) - revoked + waiting))
	ev := c.log.Info()
	if revoked > 0 || len(errs) > 0 {
		ev = c.log.Warn() // the panel and the database had drifted apart
	}
	ev.Str("event", EventOrphansRevoked).Int("count", revoked).Int("failed", len(errs)).Int("waiting", waiting).
		Int("panel_accesses", len(accesses)).Str("panel", c.panel.Name()).Msg("reconciliation with the panel done")
	if len(errs) > 0 {
		return fmt.Errorf("reconciling: %d orphans not revoked: %w", len(errs), errors.Join(errs...))
	}
	return nil
}

// orphansDue records the unbacked accesses among ids and returns those
// unbacked for OrphanMinAge (sorted, to revoke in a stable order) and how
// many others wait. Accesses backed now, or gone from the panel, are
// forgotten: an unbacked streak must be unbroken.
func (c *Cleaner) orphansDue(ids []string, backed map[string]bool, now time.Time) (due []string, waiting int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	unbacked := make(map[string]bool, len(ids))
	for _, id := range ids {
		if backed[id] {
			continue
		}
		unbacked[id] = true
		first, seen := c.orphans[id]
		if !seen {
			c.orphans[id] = now
			first = now
		}
		if now.Sub(first) >= c.cfg.OrphanMinAge {
			due = append(due, id)
		} else {
			waiting++
		}
	}
	for id := range c.orphans {
		if !unbacked[id] {
			delete(c.orphans, id)
		}
	}
	slices.Sort(due)
	return due, waiting
}

// forgetOrphan drops an orphan once it is off the panel.
func (c *Cleaner) forgetOrphan(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.orphans, id)
}
