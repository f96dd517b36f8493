// Package reminders is the reminders worker's iteration: it tells users
// that their subscription is about to end, at each configured stage before
// the expiry (by default 72 h, 24 h and 1 h), with a button to renew.
//
// Each stage of each expiry is sent at most once, whatever the number of
// replicas, restarts or retries: the reminder's notifications_sent row
// (subscription, "reminder_<stage>", expires_at) is claimed in the statement
// that selects it, before the message is published (see internal/store).
// Only the most urgent due stage is sent: a subscription found 23 h before
// its expiry gets the 24 h reminder, and its 72 h one is claimed with it so
// that it never arrives afterwards. A renewed subscription has a new expiry,
// so a new set of rows and a new cycle of reminders.
//
// At the expiry itself the user is told that the period ended and until
// when the key keeps working (notify.PaidEnded, kind paid_ended): the last
// stage, of length 0, due from the expiry until Config.Grace after it (the
// key's end; when expiry-cleanup revokes it, its own "your key no longer
// works" is the period's second message about the end). Claimed like a
// stage, it is sent once per expiry, and claims every reminder of that
// expiry still unsent, so that none arrives after it. A worker down for the
// whole grace does not send it late: the revocation's notice tells the end
// then.
//
// Only active paid periods are reminded. Unpaid trials are the
// trial-notifier's: it sends their own "trial ends" notices, and a trial
// would otherwise get a 72 h reminder the moment it starts. Users who
// blocked the bot are skipped (and nothing is claimed for them, so if they
// come back before the expiry they get the stage due then).
//
// A reminder the OUTBOX does not take is released (its row deleted) and the
// next iteration claims it again; it is published with a stable dedup id
// (notify.Reminder), so a publish whose ack was lost and is retried is still
// one message. A claimed reminder stays pending until the OUTBOX took it: a
// replica killed between claiming and publishing leaves it pending under a
// database session that is gone, and the next claim of any replica takes it
// over and publishes it (a claim whose holder lives but never finished is
// taken over after Config.ClaimTTL). Should the dead replica have published
// it already, the OUTBOX drops the repeat by its dedup id.
//
// Before the reminders, each iteration renews from the balance the periods
// whose user turned auto-renewal on, once they are within Config.RenewLead
// of their end (or past it, in the grace before revocation): shop.Renew
// charges each cycle once, under the lock of the period, and claims the
// receipt (notifications_sent kind "renewed") in the same transaction, so
// that a renewal is never left untold: a replica that dies before
// publishing the receipt leaves the claim to be taken over, like a
// reminder's. A balance short of the renewal is told once per cycle (kind
// "renew_short"), before the expiry, with a button to top it up, and the
// renewal is tried again on every iteration, so that a top-up in time
// renews the period.
package reminders
