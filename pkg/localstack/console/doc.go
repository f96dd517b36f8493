// Package console is the web app `make run` serves beside the local stack
// (pkg/localstack): a person's window onto the running system, not a fake of
// an outside one (those are pkg/sandbox/...). It offers a Telegram-like chat
// with the bot through the sandbox Telegram, a status page of every
// service's health and metrics, of each VPN panel and of every stream, and
// switches that break things on purpose (one VPN panel of the fleet down,
// failing or slow, Telegram 429s, Crypto Pay down, a killed service) so
// that a person can watch the system fail and recover.
//
// Pages (plain HTML, CSS and JavaScript, embedded; no build step):
//
//	/          the chat: pick a user id, write, press inline buttons, open
//	           pay pages, pay Stars invoices; the bot's formatting drawn
//	           as Telegram draws it, code copied on a tap
//	/status    health, pool use, the VPN panels, the streams, worker
//	           iterations, consumer deliveries, the DLQ, and the switches
//
// The status page reads three sources. Each service's own /livez, /readyz
// and /metrics say what it does, and what activation and expiry-cleanup say
// of each VPN panel (vpnbot_panel_*: up, calls, latency, drift repaired)
// is added up by panel; NATS itself (StreamInfo and ConsumerInfo of every
// stream and durable, with Config.JetStream) says what waits in each
// stream for whom, so a backlog stays in view while the service that reads
// it is down, and which running services report reading it; the sandbox
// panels (Config.Panels) say how many keys they hold. Every number it shows
// says whether it is a count since a process started or a value now.
//
// The pages call its JSON API under /api/; calls that change something must
// be JSON, so another site cannot make them through the browser. The sandbox
// Telegram's own control API (/sandbox/...) is served too when
// Config.SandboxAPI is set, so curl recipes keep working on the same address.
//
// The bot's text reaches the page as plain text and Telegram's entities
// (bold, code, links), parsed by the sandbox Telegram's own parser, and the
// page builds elements around text nodes: what the bot wrote is never
// markup, and a link is kept only when it opens a web page.
//
// It reaches the system through small interfaces (Telegram, Faults,
// SandboxPanel, Control) that the sandboxes and *localstack.Stack
// satisfy, so its handlers are tested with httptest alone.
package console
