// Package pgdb is how a service reaches PostgreSQL: a connection pool sized by
// the service's own DB_POOL_MAX_SIZE (logged at start, so on-call can check the
// connection budget), its statistics as Prometheus metrics, a readiness check,
// a way to tell "the database is down" from "this query is wrong", and leader
// election for jobs that must run on one replica only.
//
// Each service logs in as its own role, whose CONNECTION LIMIT is its share of
// the connection budget (pkg/schema Roles). A connection over it is refused by
// the database (SQLSTATE 53300): the Acquire that wanted it fails at once, and
// the pool logs DB_CONNECTION_LIMIT with the role and counts the refusal, so a
// pool that outgrew its share is named rather than left to stall.
//
// The pool connects lazily: a service starts while the database is down and
// reports not ready until it answers, instead of crash-looping.
//
// Leader election holds a session advisory lock on a dedicated connection, not
// one from the pool, so that a busy pool cannot starve the leader and the lock
// can never go back to the pool with a connection (the leak the original system
// suffered). The lock lives exactly as long as that connection: when it dies the
// database releases the lock and a standby takes over.
package pgdb
