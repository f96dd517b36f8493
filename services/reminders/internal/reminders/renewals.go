package reminders

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/worker"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// Event names of the auto-renewal's log lines.
const (
	// EventRenewed is a period renewed from its user's balance.
	EventRenewed = "AUTO_RENEWED"
	// EventRenewShort is a period due for renewal whose user's balance is
	// short of it; it is tried again each iteration.
	EventRenewShort = "AUTO_RENEW_SHORT"
	// EventRenewNoticeFailed is a receipt or warning not handed to the
	// sender: a receipt is published again once its claim's lifetime has
	// passed, a warning by the next iteration.
	EventRenewNoticeFailed = "AUTO_RENEW_NOTICE_FAILED"
)

// Outcomes of vpnbot_reminders_renewals_total.
const (
	outcomeRenewed = "renewed"
	outcomeShort   = "short"
)

// renew renews the periods due, in expiry order, batch after batch, and
// tells their users: first the receipts of renewals whose claim was
// abandoned (a replica died or hung between a renewal and its receipt),
// then each period due (shop.DueRenewals, within Config.RenewLead of its
// end, or past it in the grace). A renewal is charged once per cycle
// whatever the number of replicas (shop.Renew); its receipt, claimed with
// it, is sent by whoever renewed it. A balance short of it is told once
// per cycle, before the expiry, and tried again every iteration until the
// period is revoked, so that a top-up in time still renews it.
func (r *Reminder) renew(ctx context.Context, res worker.Result) error {
	heldSince := r.cfg.NowFunc().Add(-r.cfg.ClaimTTL)
	receipts, err := r.shop.TakeOverRenewalReceipts(ctx, heldSince, r.cfg.BatchSize)
	if err != nil {
		return err
	}
	for _, rc := range receipts {
		if err := r.sendReceipt(ctx, rc.Cycle, rc.Renewal, res); err != nil {
			return err
		}
	}
	var after shop.RenewalCycle
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("renewing: %w", context.Cause(ctx))
		}
		due, err := r.shop.DueRenewals(ctx, r.cfg.RenewLead, after, r.cfg.BatchSize)
		if err != nil {
			return err
		}
		for _, c := range due {
			if err := r.renewOne(ctx, c, res); err != nil {
				return err
			}
		}
		// Periods short of their renewal stay due: the next batch starts
		// after the last one seen rather than at the soonest expiry.
		if len(due) < r.cfg.BatchSize {
			return nil
		}
		after = due[len(due)-1]
	}
}

// cycleLog is the log of what concerns cycle c.
func (r *Reminder) cycleLog(c shop.RenewalCycle) zerolog.Logger {
	return r.log.With().Int64("subscription_id", c.SubscriptionID).Int64("user_id", c.UserID).
		Time("expires_at", c.ExpiresAt).Logger()
}

// renewOne renews cycle c, if no one did, and tells its user.
func (r *Reminder) renewOne(ctx context.Context, c shop.RenewalCycle, res worker.Result) error {
	ren, applied, err := r.shop.Renew(ctx, c.SubscriptionID, c.ExpiresAt)
	log := r.cycleLog(c)
	switch {
	case errors.Is(err, shop.ErrInsufficientBalance):
		res[outcomeShort]++
		r.renewals.WithLabelValues(outcomeShort).Inc()
		log.Info().Str("event", EventRenewShort).Str("plan", ren.Plan.ID).
			Msg("balance short of the renewal; tried again next iteration")
		return r.warnShort(ctx, c, ren.Plan, res)
	case err != nil:
		return err
	case !applied:
		// Renewed by another replica, paid for since, or turned off.
		return nil
	}
	res[outcomeRenewed]++
	r.renewals.WithLabelValues(outcomeRenewed).Inc()
	log.Info().Str("event", EventRenewed).Str("plan", ren.Plan.ID).Str("currency", ren.Entry.Currency).
		Int64("amount", -ren.Entry.Amount).Time("renewed_until", ren.ExpiresAt).Msg("period renewed from the balance")
	return r.sendReceipt(ctx, c, ren, res)
}

// sendReceipt hands the receipt of cycle c's renewal to the sender and
// records it sent. One not handed over stays claimed, and is published
// again once its claim's lifetime has passed (TakeOverRenewalReceipts): its
// renewal is not due any more, so nothing else would tell it.
func (r *Reminder) sendReceipt(ctx context.Context, c shop.RenewalCycle, ren shop.Renewal, res worker.Result) error {
	if c.ChatID != 0 && !c.Blocked {
		msg := notify.RenewalReceipt(notify.Language(c.Language), c.ChatID, c.SubscriptionID, c.ExpiresAt, ren)
		if err := r.publishNotice(ctx, c, msg, "receipts", res); err != nil {
			return err
		}
	}
	return r.noticeSent(ctx, c, shop.NoticeRenewed)
}

// warnShort tells the user of cycle c, once per cycle and only before its
// expiry (at the expiry the reminders' notice of the end speaks), that
// their balance is short of plan p. A warning not handed to the sender is
// released, for the next iteration to send.
func (r *Reminder) warnShort(ctx context.Context, c shop.RenewalCycle, p shop.Plan, res worker.Result) error {
	if c.ChatID == 0 || c.Blocked || !r.cfg.NowFunc().Before(c.ExpiresAt) {
		return nil
	}
	claimed, err := r.shop.ClaimRenewShort(ctx, c, r.cfg.NowFunc().Add(-r.cfg.ClaimTTL))
	if err != nil || !claimed {
		return err
	}
	msg := notify.RenewShort(notify.Language(c.Language), c.ChatID, c.SubscriptionID, p, c.ExpiresAt)
	if err := r.publishNotice(ctx, c, msg, "warnings", res); err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		return errors.Join(err, r.shop.ReleaseRenewShort(rctx, c))
	}
	return r.noticeSent(ctx, c, shop.NoticeRenewShort)
}

// publishNotice hands an auto-renewal message to the sender, counting it
// under item. One the OUTBOX refuses as invalid is logged and counted, and
// not tried again.
func (r *Reminder) publishNotice(ctx context.Context, c shop.RenewalCycle, msg *vpnbotv1.SendMessage, item string, res worker.Result) error {
	log := r.cycleLog(c).With().Str("dedup_id", msg.GetDedupId()).Logger()
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	duplicate, err := outbox.Publish(pctx, r.js, msg)
	cancel()
	switch {
	case errors.Is(err, outbox.ErrInvalid):
		log.Error().Str("event", EventReminderInvalid).Err(err).Msg("auto-renewal message cannot be sent; dropped")
		res["invalid"]++
		return nil
	case err != nil:
		log.Warn().Str("event", EventRenewNoticeFailed).Err(err).Msg("auto-renewal message not handed to the sender")
		res["failed"]++
		return fmt.Errorf("telling the renewal of period %d: %w", c.SubscriptionID, err)
	case duplicate:
		res["duplicate"]++
	default:
		res[item]++
	}
	return nil
}

// noticeSent records the notice of kind of cycle c as handed to the sender,
// even when ctx has ended. When that fails it stays claimed, and is
// published again, as a duplicate the OUTBOX drops, once its claim's
// lifetime has passed.
func (r *Reminder) noticeSent(ctx context.Context, c shop.RenewalCycle, kind string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	return r.shop.RenewalNoticeSent(ctx, c, kind)
}
