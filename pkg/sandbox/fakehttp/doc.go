// Package fakehttp is the HTTP lifecycle the sandbox fakes share
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
package fakehttp
