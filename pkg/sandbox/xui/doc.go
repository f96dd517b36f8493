// Package xui is a fake 3x-ui panel (MHSanaei/3x-ui) with its subscription
// server, for tests and `make run`.
//
// It follows the panel's source at tags v2.8.0, v2.9.4, v3.0.0 and v3.1.0,
// checked against v3.6.0 (web/controller/*.go, web/service/inbound.go and
// client.go, web/session/csrf.go, sub/), read from
// github.com/MHSanaei/3x-ui. Config.Version picks the line served, as the
// panel's own behaviour differs:
//
//   - 2.8–2.9: a cookie session ("3x-ui") from POST {base}login; the
//     inbound client routes; settings as JSON text in a string; no CSRF, and
//     GET {base}csrf-token is 404.
//   - 3.0: the same routes, but GET {base}csrf-token gives the session's
//     token ({"success":true,"obj":token}) and every unsafe call, the login
//     included, needs it in X-CSRF-Token (403 without).
//   - 3.1 on (the default, DefaultVersion): CSRF as 3.0, and
//     /panel/api/clients/* instead of addClient, updateClient and delClient,
//     which then answer 404; settings as a nested object; a new client is
//     always enabled; an inbound may lose its last client.
//
// Every answer is {"success","msg","obj"} with status 200, a refusal
// included ("Something went wrong (Duplicate email: x)"). The API is hidden
// from anyone not logged in: 404 without a body (401 to an XMLHttpRequest
// on 3.x), as for a route the release does not have. The routes, relative to
// Config.WebBasePath and named so for Fault.Route and Requests:
//
//	POST /login                                          {username, password} → success true or false
//	GET  /csrf-token                                     3.x: the session's CSRF token
//	GET  /panel/api/inbounds/list                        every inbound
//	GET  /panel/api/inbounds/get/{id}                    one inbound: settings.clients and clientStats
//	GET  /panel/api/inbounds/getClientTraffics/{email}   before 3.1: a client's traffic row
//	POST /panel/api/inbounds/addClient                   before 3.1: {id, settings:"{\"clients\":[...]}"}
//	POST /panel/api/inbounds/updateClient/{clientId}     before 3.1: the same body; replaces the client
//	POST /panel/api/inbounds/{id}/delClient/{clientId}   before 3.1: refuses an inbound's last client
//	GET  /panel/api/clients/get/{email}                  3.1 on: {client, inboundIds}
//	GET  /panel/api/clients/traffic/{email}              3.1 on: a client's traffic row
//	POST /panel/api/clients/add                          3.1 on: {client, inboundIds}
//	POST /panel/api/clients/update/{email}               3.1 on: the client; replaces it
//	POST /panel/api/clients/del/{email}                  3.1 on
//
// The server starts with inbound InboundID (VLESS, port 443) holding one
// client of the operator's, as the panel's form makes every inbound. As the
// panel's traffic job does, a client past its expiryTime or over its totalGB
// is disabled (enable false) for good; AddTraffic counts traffic.
//
// The subscription server answers GET {SubPath}{subId} with the VLESS links
// of the clients of that subId, base64-encoded: 400 "Error!" before 3.1 and
// 404 from 3.1 on for a subId no client has. Like the panel's, it lists a
// disabled client's link too: Accepts is the running Xray's side, whether a
// client id may connect now. A link works when both say yes.
//
// Tests read the clients with Users, count them with Accounts, change them
// behind the bot's back with DriftDelete, DriftDisable and DriftExpiry, end
// the sessions with ExpireSessions, count calls with Requests and logins
// with Logins, and inject failures (latency, error statuses without a body,
// hangs, replies lost after the panel acted) with Inject. With
// Config.StateDir the inbounds and clients outlive a restart. The same
// controls are served as a small JSON API for `make run` and curl, without a
// login:
//
//	GET    /sandbox/users              the clients
//	POST   /sandbox/sessions/expire    end every session
//	POST   /sandbox/faults             inject {"route","latency","status","hang","times","serve_first"}
//	DELETE /sandbox/faults             clear faults
package xui
