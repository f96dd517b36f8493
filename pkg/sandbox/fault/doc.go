// Package fault is the failure injection the sandbox fakes share
// (pkg/sandbox/telegram, cryptopay, outline and remnawave); nothing else
// imports it.
//
// A test or `make run` injects a Fault: for the calls to one route (or to
// any), wait Latency, then hang until the faults are cleared or the sandbox
// closes, then answer with an error Status, for the next Times calls or until
// cleared. An Injector holds the faults of one sandbox; the sandbox asks it
// with Take which fault a call meets, lets the Active fault play out with
// Wait, and renders the failure in its own protocol (Telegram's
// {"ok":false,...}, Crypto Pay's error envelope, the panels' error bodies) —
// that part stays in each sandbox. HandleControl serves the control
// endpoints every sandbox has, POST and DELETE /sandbox/faults.
package fault
