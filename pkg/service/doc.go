// Package service is the one skeleton of every long-running service
// (gateway, bot-handler, sender and the five workers): a service's main
// declares a Spec — its name, its typed configuration with defaults, the
// streams it declares, and a BuildFunc that registers its own parts —
// and Main does the rest, the same way for all eight:
//
//   - reads the configuration once (config.Load), logs SERVICE_START (with
//     the build's version and revision, pkg/buildinfo) and CONFIG (secrets
//     masked), and SERVICE_STOP at the end, with the error that stopped it,
//     if any;
//   - sets up tracing (pkg/tracing: off unless an OTLP endpoint is set),
//     flushed at the very end of the shutdown;
//   - opens the connection pool when the Config embeds config.DB (logging
//     DB_POOL_MAX_SIZE, 0 for a service without one) and the NATS
//     connection, which reconnects forever;
//   - serves /livez, /readyz and /metrics (with vpnbot_build_info) on
//     OPS_ADDR, with the self-watchdog of WATCHDOG_EXIT_AFTER; /readyz
//     fails while NATS or PostgreSQL does not answer, until the service has
//     started, and from the first step of its shutdown;
//   - runs BuildFunc, which may wait for an outside system while the service is
//     live but not ready, then serves its HTTP servers, declares its streams
//     on STREAM_REPLICAS servers with retries (again whenever
//     RedeclareStreams asks) and runs its consumers and loops;
//   - on SIGINT or SIGTERM, or when any part fails, shuts down in one
//     documented order: stop HTTP (requests in flight finish), stop the
//     consumers and loops (messages in hand are settled), stop the ops
//     endpoint, drain NATS, close the pool, run the closers (a VPN panel
//     client), flush the traces, log SERVICE_STOP. A handler still
//     running at the shutdown can publish and query to its end.
//
// A service's main.go is wiring only; services/reminders/main.go is the
// smallest.
package service
