// Command activation is the activation worker (DESIGN §1): it creates the
// VPN access of every active subscription period that has none, extends on
// the panel the access of a period paid for again, and hands each new key to
// the user through the sender. It polls the database every WORKER_INTERVAL
// and is woken early by activation.requested events; see
// internal/activation.
package main
