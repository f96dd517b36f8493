// Package fakehttp is the HTTP lifecycle and the routing the sandbox fakes share
// (pkg/sandbox/telegram, cryptopay, outline and remnawave); nothing else
// imports it.
//
// A fake holds one Server around its own routes. Handler counts every
// request in flight, so Close can wait for the hung and long-polling ones,
// and once closed answers with the fake's own "unavailable" reply (each
// protocol words it differently). Start, or StartTLS for a fake that serves
// HTTPS, listens and serves Handler in the background; URL is where. Close
// refuses new requests, lets the fake release the handlers blocked on its
// state (its context, its fault injector), stops serving and waits for them.
// Whatever else the fake runs, such as webhook deliveries, it stops itself.
//
// API is the routes of a fake REST API, such as a VPN panel's: every call is
// counted by its route (Requests), and a fault injected on a route is played
// before the route answers, or after it acted (ServeFirst), in the words of
// the fake's protocol.
package fakehttp
