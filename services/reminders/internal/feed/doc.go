// Package feed is the sales feed: a stage of the reminders worker's
// iteration that posts to the seller's chat (ADMIN_FEED_CHAT) every trial,
// payment, top-up, purchase, renewal and refund of the ledger, and every
// ban, unban and change of access or balance by an admin (admin_audit), one
// line each, many lines to a message, and each day at a set UTC hour a
// summary of the day before. It is off while no chat is set.
//
// Each event is posted once, whatever the replicas, restarts or lost acks.
// The ledger's and the audit trail's ids are bigserials that can commit out
// of order, so there is no "last id posted" cursor: each event's row is
// claimed in feed_events, keyed by (source, id), in the transaction that
// claims the message that posts it (feed_messages, with its text and dedup
// id "feed:<source>:<first event's id>"). The message is published to the
// OUTBOX after that commit, at the lowest priority (after every user's
// message), and then recorded published. A pass that failed or died between
// the two leaves the message claimed; the next pass of any replica
// publishes it first, word for word under its dedup id, so the OUTBOX (or
// after its window the sender's sent-log) keeps one copy.
//
// Messages reach the chat in the order they were claimed. A pass holds the
// chat's feed for its whole length, a lock on its feed_state row in a
// transaction kept open (FOR UPDATE SKIP LOCKED: a replica that finds it
// held skips its pass, the holder is posting); a replica that dies loses
// the hold with its session. Under the hold, a message is published only
// once every message before it was acked by the OUTBOX, and the sender
// keeps one chat's messages of a priority in order. Skipping rather than
// claiming with SKIP LOCKED row by row is deliberate: two replicas posting
// side by side would each claim a batch, and their publishes could reach
// the OUTBOX in either order.
//
// Events are posted in (created_at, id) order as they become visible: an
// event that commits after a later one was posted goes in the next message.
// When the feed is first switched on for a chat it starts a day back, not
// at the start of the history (feed_state.since); from then on its start
// follows the clock an hour behind (settle), since an event commits within
// seconds of its stamp, so that a pass reads only recent rows; a worker
// down for days catches up from where it stopped.
//
// The summary of a UTC day (new users; trials; payments, top-ups and
// refunds with their money by currency; purchases and renewals from the
// balance; the day's revenue; bans) is a message of its own, dedup id
// "feed:summary:<day>", claimed once from SummaryHour on the next day. A
// feed down at that hour posts the summaries it missed when it is back,
// oldest first, up to a week late, and never of a day before the one it
// was switched on.
package feed
