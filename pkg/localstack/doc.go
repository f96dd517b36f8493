// Package localstack runs the whole system on one machine, each service as
// its own child process: the real binaries, wired to an embedded NATS
// JetStream and to the fakes of the outside systems. It is not a fake itself
// — those are pkg/sandbox/... (Telegram, Crypto Pay, the VPN panels), which
// it starts in-process — nor a program: `make run` is services/devstack,
// which drives a Stack and serves its console (localstack/console), and
// services/sandbox-server serves the same fakes as a process of their own
// for docker compose. The end-to-end tests and the load benchmark start the
// system this way too, so they exercise the same binaries, configuration and
// start-up order as a deployment.
//
// One table (services.go) says what the system is: each service's binary,
// where its ops endpoint goes, whether it has replicas or is a worker, and
// the settings it needs from the Stack. The settings that a shared typed
// struct already names (config.Base, config.DB, worker.Env, vpn.PanelEnv)
// are rendered from it with config.Environ, so no name is copied; those that
// belong to one service's own configuration are written in its row only.
// The bookkeeping (process.go) is the same for every service: one list of
// processes by name and replica, one way to start one and wait until it is
// ready. Every line a service writes goes to Config.Output named after its
// process (procs.FormatLine), and with Config.LogDir also, as written, to
// that process's own file (OpenLog), so a caller may show less than all of
// it and lose nothing.
//
// Start brings the system up in the order a deployment would: the broker and
// the sandboxes first, then the migrate job to completion, then the gateway
// (which registers its webhook with the sandbox, as with Telegram, and is
// waited for until it has), then the bot-handler replicas, the sender and,
// with Config.Workers, the workers. It returns only once every service
// reports ready, so whatever a caller does next meets a working system.
//
// The Stack's methods are the failures the tests need: the broker stopped and
// started again on the same port and store (nats.go), any service killed as
// by a crash, stopped gracefully, or started again as it was, and a
// bot-handler replica added. Config.Replicas runs the sender and the workers
// twice or more, as a deployment does; Exits lists the processes that ended
// without being asked to, for whoever plays the orchestrator. With
// Config.NATSNodes = 3 the broker is a three-node cluster, as in production,
// with every stream on STREAM_REPLICAS nodes (default: all of them);
// StopNATSNode and StartNATSNode take one node away and back, and
// NATSStreamLeader says which node to take for an election. With
// Config.NATSProcesses each node is a process of its own (natsembed's
// natsnode command), which KillNATSNode ends with SIGKILL, as a crash. Metrics
// (probe.go) scrapes a service's /metrics for the assertions and the
// benchmark's table.
//
// The workers place users on two sandbox Outline panels (Config.Panels),
// "outline" and "outline-2", in one location with failover, as VPN_PANELS
// lists them: break one (Inject on Stack.Panels, or make run's switches)
// and new users go to the other. The first is Stack.Outline, under the
// name a single panel has, so tests that read one panel's keys ask for one.
//
// The sandboxes keep their state in memory, as tests want, unless
// Config.SandboxDir names a folder: then the sandbox Telegram's chats, the
// sandbox Crypto Pay's invoices, with their ids, and each sandbox Outline
// panel's access keys, at the same API URL and certificate, survive a
// restart of the stack, as make run's do.
//
// Nothing here depends on package testing, so a plain main can use it.
package localstack
