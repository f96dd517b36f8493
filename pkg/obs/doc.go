// Package obs is what every service shows to on-call: zerolog JSON logs with
// `service`, `instance` and a CAPS `event` name, and the ops server with
// /livez, /readyz and /metrics.
//
// Liveness means "the service's loop is still making progress" (a stalled
// service is restarted by its orchestrator); readiness means "its dependencies
// answer" (a service that is not ready gets no traffic but is not restarted).
package obs
