// Command payment-watcher confirms Crypto Pay invoices and applies each paid
// one exactly once (DESIGN §1): it consumes the verified webhooks
// the gateway stores on payments.cryptopay, and, as a fallback, polls Crypto
// Pay's getInvoices for our pending orders every WORKER_INTERVAL (default
// 30s). See internal/watcher for the guarantees.
//
// The poller runs under leader election (WORKER_SINGLETON, default true): the
// replicas contend for a PostgreSQL advisory lock on a connection of their
// own, on top of DB_POOL_MAX_SIZE (default 3), and only the holder polls; a
// standby takes over within seconds when the leader dies. Every replica
// consumes webhook events.
//
// Settings: CRYPTOPAY_TOKEN (required), CRYPTOPAY_API_URL, DATABASE_URL,
// DB_POOL_MAX_SIZE, NATS_URL, OPS_ADDR (default :9107), WORKER_INTERVAL,
// WORKER_ITERATION_TIMEOUT, WORKER_SINGLETON, WATCHDOG_EXIT_AFTER.
package main
