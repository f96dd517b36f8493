// Package store is the expiry-cleanup worker's own SQL: the claims that keep
// replicas from revoking or notifying twice, and the accesses the panel
// reconciliation keeps. Listing and revoking periods is pkg/shop's.
//
// Both claims are rows of notifications_sent, taken by a single INSERT … ON
// CONFLICT statement so that of several replicas exactly one gets each:
// "expired" (the user's notice, once per period and expiry) and
// "revoke_claim" (a lease on revoking a period, taken over once stale).
package store
