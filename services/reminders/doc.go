// Command reminders is the reminders worker (DESIGN §1): every
// WORKER_INTERVAL it reminds the users whose paid subscription ends within a
// stage of REMINDER_STAGES (default 72h,24h,1h), and once it has ended that
// the key works until EXPIRY_GRACE after the expiry, each once per expiry,
// through the sender (OUTBOX). Replicas share the work by claiming each
// reminder in the database; see internal/reminders.
package main
