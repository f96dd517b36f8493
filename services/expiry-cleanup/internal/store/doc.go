// Package store is the expiry-cleanup worker's own SQL: the claims that keep
// replicas from revoking or notifying twice, the accesses the panel
// reconciliation keeps, and the count of accesses overdue for revocation.
// Listing and revoking periods is pkg/shop's.
//
// Both claims are rows of notifications_sent, taken by a single INSERT … ON
// CONFLICT statement so that of several replicas exactly one gets each:
// "expired" (the user's notice, once per period and expiry) and
// "revoke_claim" (a lease on revoking a period, taken over once stale or
// once its replica's database session has ended). An "expired" claim stays
// pending until its notice is published, and one abandoned (its replica
// died or hung before publishing) is taken over.
package store
