// Package e2e holds the end-to-end tests: the whole system as separately
// running processes (pkg/localstack) against real PostgreSQL, real NATS JetStream
// and the sandboxes (fake Telegram, Crypto Pay and VPN panels), driven the
// way users and outages drive it, and judged by what users see in their chats and what an
// operator sees in logs, metrics and the DLQ.
//
// The service binaries are built once per test run (TestMain); every test
// gets its own database schema and its own stack. Run them with
// `cd e2e && go test ./...` after scripts/ensure-postgres.sh. A failed test
// prints the tail of its services' output; E2E_DEBUG=1 prints it for every
// test.
package e2e
