// Package worker is the one runtime of the background workers (reminders,
// trial-notifier, expiry-cleanup, activation, payment-watcher): an interval
// loop whose every iteration runs under a timeout and tells on-call what it
// did, the fixes of the original system's hung, overlapping loops whose
// ITERATION_END logs got lost (DESIGN §4).
//
// Each iteration logs ITERATION_START and, in a defer so that no path can lose
// it, ITERATION_END with its outcome (ok, error, timeout, canceled), duration
// and item counts; an iteration past its timeout also logs WORKER_TIMEOUT. An
// iteration that ignores its context past the timeout is abandoned: its END is
// logged at the timeout (and a quarter second it gets to return), the loop goes
// on, and the goroutine left behind is counted in
// vpnbot_worker_abandoned_iterations until it returns.
//
// Stopping (Run's context done) lets the running iteration finish within
// StopGrace, then cancels its context: outcome canceled. A singleton that
// loses leadership (its election connection died, so another replica may
// lead already) cancels the running iteration at once, with no grace.
//
// Live is the /livez check: it fails when no iteration has completed (returned,
// whatever its outcome) for Interval + IterationTimeout + LiveMargin. An
// abandoned iteration has not completed: when every iteration hangs, the hung
// goroutines hold what they hang on (a pool connection, a socket), so a restart
// is what helps. Wire it as
//
//	ops.AddLiveness("worker", w.Live)
//	ops.SetWatchdog(cfg.WatchdogExitAfter) // runs without an orchestrator exit by themselves
//
// # Claiming work
//
// Several replicas run the same loop, and an abandoned iteration may still run
// beside the next one, so the runtime does not keep two iterations from seeing
// the same item: the iteration claims its items so that each is processed once.
// Either lock the rows it takes, skipping those another iteration holds,
//
//	SELECT id FROM subscriptions
//	WHERE status = 'pending_access'
//	ORDER BY id LIMIT $1
//	FOR UPDATE SKIP LOCKED
//
// or make the state change conditional, so that only one claimant's update
// matches and the others see zero rows affected:
//
//	UPDATE subscriptions SET status = 'revoking'
//	WHERE id = $1 AND status = 'active'
//
// Calls to outside systems (the VPN panel, Telegram) stay outside those
// transactions: claim in one short transaction, call, record in another.
//
// # Singleton
//
// With Singleton the loop runs only while this replica is the elected leader
// (a *pgdb.Elector): the others stand by, live, and one of them takes over
// within seconds when the leader dies. Leadership can overlap for a moment
// after a leader's connection dies, so a singleton's iteration must still
// claim its work as above.
//
// # Tracing
//
// Each iteration is a span named after the worker, holding the iteration's
// context: the queries and publishes it makes are its children. It is the
// root of a trace of its own (pkg/tracing samples it), unless a message's
// handler asked for it with WakeFrom: it then continues that message's trace
// (the activation a payment asked for), linked to any other wake-ups merged
// into it. Its attributes are the
// items it reported (vpnbot.items.<name>) and its outcome; an error or a
// timeout is its error status. ITERATION_START and ITERATION_END carry its
// trace_id and span_id.
//
// Start adds a worker loop to a service built with pkg/service, which owns
// the rest of a worker's main: configuration and start-up logs, the pool,
// NATS, the ops server, the streams it publishes to, and the shutdown order
// (stop the loop, drain NATS, close the pool). Start adds the loop itself, its
// liveness check, and leader election when WORKER_SINGLETON.
package worker
