// Package outline is a fake Outline server management API (shadowbox) for
// tests and `make run`.
//
// It follows the management API of OutlineFoundation/outline-server as of
// May 2026 (src/shadowbox/server/api.yml, "version 1.0", and its
// implementation in manager_service.ts and server_access_key.ts), so
// pkg/vpn's Outline adapter is what gets exercised: HTTPS with a
// self-signed certificate that clients pin by CertSHA256, every route
// under a secret path prefix (anything else is restify's 404
// ResourceNotFound, as shadowbox answers it), JSON access keys with ss://
// access URLs, and restify's error bodies ({"code","message"}). The routes,
// named as Fault.Route takes them:
//
//	GET    /access-keys                    list keys: {"accessKeys":[...]}
//	POST   /access-keys                    create a key with the next numeric id (201)
//	PUT    /access-keys/{id}               create a key with this id, any string (201; 409 Conflict if it exists)
//	GET    /access-keys/{id}               read a key (404 NotFound)
//	DELETE /access-keys/{id}               delete a key (204; 404 NotFound)
//	PUT    /access-keys/{id}/name          rename a key (204)
//	PUT    /access-keys/{id}/data-limit    set {"limit":{"bytes":N}} (204)
//	DELETE /access-keys/{id}/data-limit    remove the limit (204)
//	GET    /metrics/transfer               traffic by key id: {"bytesTransferredByUserId":{...}}
//
// As on shadowbox, a key whose traffic reaches its data limit is blocked:
// its proxy refuses connections, and a limit of 0 blocks it at once, which
// is how the Outline Manager switches a key off. The API says nothing of
// it but the limit and the traffic. KeyWorks is what a client would find:
// whether an ss:// URL's method and password belong to a key that is not
// blocked; Transfer adds traffic to a key.
//
// Tests read the keys with Keys, Key and Accounts, count calls with
// Requests, inject failures (latency, error statuses, hangs, replies lost
// after the server acted) with Inject, and change keys behind the bot's
// back as an operator would with DriftDelete, DriftDisable and DriftExpiry
// (a no-op: Outline keys do not expire). The same controls are served as a
// small JSON API outside the secret path, for `make run` and curl:
//
//	GET    /sandbox/keys      the keys
//	POST   /sandbox/connect   {"accessUrl":"ss://..."}: {"works":bool}, as KeyWorks
//	POST   /sandbox/faults    inject {"route","latency","status","hang","times","serve_first"}
//	DELETE /sandbox/faults    clear faults
//
// With Config.StateDir the server keeps its keys (secrets, limits and
// traffic), its next id, its certificate, its secret path and the port it
// listened on in StateDir/state.json (pkg/statefile), as shadowbox keeps
// its config files: New restores them, and a server started again answers
// at the same API URL with the same certificate, every key handed out
// still working. Every change is written before it is answered; one that
// cannot be written is undone and answered 500.
package outline
