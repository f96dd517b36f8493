// Package proto holds the protobuf messages our services send each other over
// NATS (DESIGN §2), with the generated Go committed beside the .proto files.
//
// Telegram updates travel as Telegram's own JSON (the gateway publishes the
// raw body); the first messages of our own, the sender's SendMessage command,
// arrive with issue #4.
package proto
