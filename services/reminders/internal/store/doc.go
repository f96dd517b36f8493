// Package store is the reminders worker's SQL: which reminders are due, and
// the notifications_sent rows that claim them.
//
// Claiming is how replicas share the work without sending a reminder twice:
// a reminder is claimed by inserting its (subscription, kind, expiry) row in
// the same statement that selects it, before it is published, and the
// primary key lets exactly one claimant insert it. The row stays pending
// (pending_pid, the claiming database session) until the OUTBOX took the
// reminder (MarkPublished). A reminder that could not be published is
// released (its row deleted) for a later iteration to claim again; one whose
// claimant died before publishing (its session is gone) or never finished
// (the claim outlived its lifetime) is taken over by the next claim and
// published again under the same dedup id. The notice of the end itself is
// claimed as a stage of length 0, with every reminder of its expiry not
// sent yet, so that none of them arrives after it.
//
// It is also the sales feed's SQL (feed.go): the hold of a chat's feed for
// one pass (GuardFeed), the ledger and admin_audit rows not posted yet, the
// claim of a message with its events in one transaction, and a day's
// numbers for the summary.
package store
