// Package notifier is the trial-notifier's iteration: the trial funnel's
// notices, each sent once, through the sender (OUTBOX) in the user's
// language.
//
//   - the last and the first "ends soon" notice, trial_1h and trial_24h by
//     default: a running trial ends within Config.Leads' Last (an hour by
//     default), or within its First (a day; but not within the Last: a
//     missed first notice is not sent late beside the last one). The notice
//     tells the lead ("in 24 hours", "in 10 minutes"), and its kind is named
//     after it (notify.TrialEndsSoonKind), as a reminder's stage is: what
//     notifications_sent, the dedup ids and the items count it under. A
//     change of the leads is a new kind, sent to trials already told at the
//     old lead;
//   - trial_ended: a trial ran out and was not paid for; it says when the
//     key stops working (expiry + Grace) and offers the plans. It is due
//     from the expiry until then, while the period is active: when
//     expiry-cleanup revokes the key, its own "your key no longer works"
//     (notify.KeyRevoked) is the second message of the end, sent whatever
//     this worker did. A trial-ended notice missed for the whole grace (the
//     worker was down) is not sent late: the revocation's notice tells the
//     end then;
//   - never_started: a user registered a day ago or more and never took the
//     trial nor bought anything; its button starts the trial.
//
// Users who blocked the bot are skipped. Each pass claims a batch in the
// statement that selects it (see package store), publishes the batch, and on
// failure releases the claims and ends the iteration with the error, so the
// next iteration sends them. A notice that was published but whose ack was
// lost is published again with the same dedup id, which the OUTBOX and the
// sender drop. A claim stays pending until its batch was published: the
// claims of a replica killed between claiming and publishing are taken over
// by the next claim of any replica once the dead replica's database session
// has gone (or, if its replica hangs instead, after Config.ClaimTTL), and
// published again under the same dedup ids, so that a batch the dead replica
// did publish is dropped as duplicates.
//
// Never-started nudges that fell due more than MaxAge ago (the worker was
// down, or the service is deployed over an older user base) are not sent at
// all.
package notifier
