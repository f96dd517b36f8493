// Package activation is the activation worker's iteration: it brings the VPN
// panel in line with the subscriptions that were paid for or started as a
// trial, and hands each new key to its user.
//
// One iteration:
//
//  1. takes up to BatchSize periods waiting for the panel
//     (shop.PendingActivations) and activates them (shop.Activate: create
//     the access, or extend it on the panel when the period was paid for
//     again; the panel is called outside any transaction), with at most
//     Concurrency panel calls at once;
//  2. as soon as a new access is recorded, delivers its key: a
//     notify.KeyReady message to the sender (OUTBOX). Once all are done,
//     one statement records the keys sent ("key" rows in
//     notifications_sent). An extension keeps the access, so it sends
//     nothing;
//  3. delivers the keys still not delivered: every live access without its
//     "key" row (an earlier run killed before delivering, or a delivery
//     that failed in step 2).
//
// Step 3 does not depend on steps 1 and 2 having run in the same process: an
// iteration killed after recording an access and before publishing its key
// leaves an undelivered access, which the next iteration (of any replica)
// delivers. Several replicas may activate and deliver the same period at
// once: the panel names the access by the period, so they make one key, and
// the message's dedup id (the subscription and the key) makes the OUTBOX and
// the sender send it once.
//
// A failed panel call is retried by a later iteration, after a delay that
// grows per subscription (kept in memory: a restarted replica retries at
// once, which is harmless). A panel outage is not the subscriptions' fault:
// each iteration tries one subscription the panel failed anyway, and once
// the panel answers, the others are tried at the next iteration instead of
// after their grown delays. WakeConsumer wakes the worker on
// activation.requested events; polling alone is correct.
//
// At start, PublishFleet records the configured panels in vpn_panels: the
// bot-handler, which holds no panel credentials, offers their locations
// from there. A key's message names the location of its panel when the
// fleet offers a choice of locations.
package activation
