// Package localstack runs the whole system on one machine: an embedded NATS
// JetStream server, the fake Telegram Bot API of pkg/sandbox/telegram, the
// fake Crypto Pay of pkg/sandbox/cryptopay and the fake Outline panel of
// pkg/sandbox/outline (all three in-process), and every service as its own
// child process (pkg/procs), wired to each other through their environment.
// `make run`, the end-to-end tests and the load benchmark all start the
// system this way, so they exercise the same binaries, configuration and
// start-up order as a deployment.
//
// Start brings the system up in the order a deployment would: the broker and
// the sandboxes first, then the migrate job to completion, then the gateway
// (which registers its webhook with the sandbox, as with Telegram), then the
// bot-handler replicas. It returns only once every service reports ready, so
// whatever a caller does next meets a working system.
//
// The Stack's methods are the failures the tests need: the broker stopped and
// started again on the same port and store, a bot-handler replica killed as
// by a crash, stopped gracefully, or started again. Metrics scrapes a
// service's /metrics for the assertions and the benchmark's table.
//
// Nothing here depends on package testing, so a plain main can use it.
package localstack
