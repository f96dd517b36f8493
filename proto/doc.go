// Package proto holds the protobuf messages our services send each other over
// NATS (DESIGN §2), with the generated Go committed beside the .proto files.
//
// Messages live in versioned packages (vpnbot/v1 → Go package vpnbotv1).
// Telegram updates travel as Telegram's own JSON (the gateway publishes the
// raw body); ours are the events of the EVENTS stream (events.proto) and
// the sender's SendMessage command (outbox.proto).
//
// `go generate` (or `make generate`) regenerates the Go code with protoc and
// protoc-gen-go; see scripts/generate-proto.sh for how they are installed.
package proto

//go:generate ../scripts/generate-proto.sh
