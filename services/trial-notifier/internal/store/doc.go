// Package store is the trial-notifier's SQL: it selects the trial notices
// that are due and claims them in the same statement, so that any number of
// replicas (and an abandoned iteration still running beside the next) send
// each notice at most once.
//
// A notice about a trial period is claimed by inserting its row into
// notifications_sent (subscription, kind, expiry), a notice about a user by
// inserting into user_notices (user, kind); both with ON CONFLICT DO NOTHING
// RETURNING, so of two replicas racing for one notice the second waits for
// the first's insert and gets nothing back. The caller publishes what it
// claimed and Releases the claims it could not publish, so the next
// iteration tries them again.
//
// The trial-ended notice is claimed together with expiry-cleanup's expiry
// notice of the same period (Notice.Replaces): the user is told of the end
// once, by whichever of the two workers claims first.
package store
