// Package remnawave is a fake Remnawave panel API (users) for tests and
// `make run`.
//
// It speaks the real protocol, so pkg/vpn's Remnawave adapter is what gets
// exercised: a bearer API token on every /api route (401 without it), answers
// wrapped as {"response": ...}, users with the panel's field names (uuid,
// shortUuid, username, status, expireAt, subscriptionUrl, ...), its
// validation (usernames of 3-36 letters, digits, '_' and '-'; no expireAt in
// the past on update) and its error bodies ({"timestamp","path","message",
// "errorCode"} with codes such as A019 "User username already exists", 400,
// and A025 "User not found", 404). A user whose expireAt has passed reads as
// EXPIRED, as the panel's own job would mark it. The routes, named as
// Fault.Route takes them:
//
//	POST   /api/users                              create a user (201)
//	GET    /api/users                              page users: ?start=0&size=25 → {"users":[...],"total":N}
//	PATCH  /api/users                              update by uuid or username (expireAt, status, ...)
//	GET    /api/users/{uuid}                       read a user
//	GET    /api/users/by-username/{username}       read a user by username
//	DELETE /api/users/{uuid}                       delete a user → {"isDeleted":true}
//	POST   /api/users/{uuid}/actions/disable       disable (400 A029 if already disabled)
//	POST   /api/users/{uuid}/actions/enable        enable (400 A030 if not disabled)
//
// Tests read the users with Users and User, count calls with Requests, and
// inject failures (latency, error statuses, hangs, replies lost after the
// panel acted) with Inject. The same controls are served as a small JSON API
// for `make run` and curl, without the token:
//
//	GET    /sandbox/users     the users
//	POST   /sandbox/faults    inject {"route","latency","status","hang","times","serve_first"}
//	DELETE /sandbox/faults    clear faults
package remnawave
