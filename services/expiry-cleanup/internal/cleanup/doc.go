// Package cleanup is the expiry-cleanup worker's iteration: it takes VPN
// access away from periods that ran out, tells their users, and removes
// from the panel the accesses no period backs.
//
// One iteration:
//
//  1. takes up to BatchSize periods expired for longer than Grace
//     (shop.ExpiredUnrevoked) and revokes them, with at most Concurrency
//     panel calls at once: claim the period (store.ClaimRevocation, so of
//     several replicas one revokes it; the claims of a replica that died
//     are taken over at once), then shop.Revoke, which removes the
//     access from the panel with no transaction open and marks it and the
//     period revoked in one short transaction. A panel error changes
//     nothing in the database and releases the claim: the next iteration
//     retries. A period paid for meanwhile (shop.ErrRenewed) stays active
//     and gets no notice; activation makes it a new key;
//  2. tells the users of periods revoked in the last NoticeWindow that their
//     key no longer works (notify.KeyRevoked, through the sender), trial
//     or paid, whatever they were told at the expiry (the trial-notifier's
//     or the reminders' "ended, the key works until…"):
//     each notice is claimed in notifications_sent by the statement that
//     selects it, then published (Concurrency at a time) with a stable
//     dedup id; a failed publish releases the claim. A claim stays pending
//     until its notice is published: one whose replica died in between is
//     taken over by the next claim (store.ClaimNotices). This step reads the
//     database, not step 1's results, so a notice whose iteration died
//     after the revocation is sent by the next one;
//  3. every ReconcileEvery-th iteration, reconciles the panel with the
//     database: an access of ours on the panel (vpn List: by our name
//     prefix) that no live access of an active period backs is an orphan,
//     revoked once it has been unbacked for OrphanMinAge. The wait covers
//     activation, which creates an access on the panel before recording it.
//
// On-call sees ACCESS_REVOKED per access removed, REVOCATION_FAILED per
// failure, ORPHANS_REVOKED per reconciliation, and two gauges counted in the
// database after step 1 of every iteration (store.Overdue), whatever kept
// the accesses alive (panel errors, a backlog, timeouts, a dead replica):
// vpnbot_expiry_unrevoked_overdue, the live accesses of active periods past
// expiry + grace, and vpnbot_expiry_unrevoked_overdue_seconds, how long the
// oldest of them has outlived it (the VpnbotAccessesNotRevoked alert).
package cleanup
