// Command trial-notifier is the trial funnel's worker (DESIGN §1): it tells
// users whose free trial ends soon (a day and an hour before the end, or at
// the leads of TRIAL_NOTICE_LEADS), whose trial ended unpaid (offering the
// plans, and saying when the key stops working), and who registered a day ago without taking the trial (offering
// it), each notice once, through the sender. It polls the database every
// WORKER_INTERVAL; see internal/notifier.
package main
