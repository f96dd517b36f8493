// Command expiry-cleanup is the expiry-cleanup worker (DESIGN §1): every
// WORKER_INTERVAL it revokes on the VPN panel the access of each period past
// its expiry + EXPIRY_GRACE, marks it revoked, tells the user their key no
// longer works, and every RECONCILE_EVERY-th iteration removes from the
// panel the accesses no active subscription backs; see internal/cleanup.
package main
