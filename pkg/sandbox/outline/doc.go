// Package outline is a fake Outline server management API (shadowbox) for
// tests and `make run`.
//
// It speaks the real protocol, so pkg/vpn's Outline adapter is what gets
// exercised: HTTPS with a self-signed certificate that clients pin by
// CertSHA256, every route under a secret path prefix (anything else is
// restify's 404 ResourceNotFound, as shadowbox answers it), JSON access keys
// with ss:// access URLs, and restify's error bodies ({"code","message"}).
// The routes, named as Fault.Route takes them:
//
//	GET    /access-keys                    list keys: {"accessKeys":[...]}
//	POST   /access-keys                    create a key with the next numeric id (201)
//	PUT    /access-keys/{id}               create a key with this id (201; 409 Conflict if it exists)
//	GET    /access-keys/{id}               read a key (404 NotFound)
//	DELETE /access-keys/{id}               delete a key (204; 404 NotFound)
//	PUT    /access-keys/{id}/name          rename a key (204)
//	PUT    /access-keys/{id}/data-limit    set {"limit":{"bytes":N}} (204)
//	DELETE /access-keys/{id}/data-limit    remove the limit (204)
//
// Tests read the keys with Keys and Key, count calls with Requests, and
// inject failures (latency, error statuses, hangs, replies lost after the
// server acted) with Inject. The same controls are served as a small JSON API
// outside the secret path, for `make run` and curl:
//
//	GET    /sandbox/keys      the keys
//	POST   /sandbox/faults    inject {"route","latency","status","hang","times","serve_first"}
//	DELETE /sandbox/faults    clear faults
package outline
