// Package store is the trial-notifier's SQL: it selects the trial notices
// that are due and claims them in the same statement, so that any number of
// replicas (and an abandoned iteration still running beside the next) send
// each notice at most once.
//
// A notice about a trial period is claimed by inserting its row into
// notifications_sent (subscription, kind, expiry), a notice about a user by
// inserting into user_notices (user, kind); both with INSERT … ON CONFLICT
// … RETURNING, so of two replicas racing for one notice the second waits for
// the first's insert and gets nothing back. A claim stays pending (its
// pending_pid is the claiming database session) until the caller publishes
// the notice and calls MarkPublished; the caller Releases the claims it
// could not publish, so the next iteration tries them again.
//
// A claim keeps other claimants off its notice while it is published
// (pending_pid NULL), or pending under a live session and younger than the
// claim's lifetime (New's claimTTL). Otherwise it was abandoned: its
// replica died between claiming and publishing, or hangs. The next claim
// takes it over, with a conflicting insert that updates the row only if it
// is still abandoned once it holds the row's lock (so two replicas cannot
// both take it), and the notice is published again under the same dedup id.
package store
