// Package remnawave is a fake Remnawave panel API (users) for tests and
// `make run`, in either of the panel's API versions: 2.x (Config.Version 2,
// the default) or 3.x (Config.Version 3).
//
// It follows the panel's own contract, libs/contract of
// github.com/remnawave/backend, read at release 3.3.2 (the latest 3.x) and
// at tag 2.8.1 (the last 2.x): the commands for users (create, get by id or
// uuid, get by username, update, delete, enable, disable, revoke
// subscription, the offset list and the users/stream keyset list), the
// system metadata command that tells the version, and the subscription
// controller. So pkg/vpn's Remnawave adapter is what gets exercised: a
// bearer API token on every /api route but the subscription (401 without
// it), answers wrapped as {"response": ...}, users with the panel's field
// names (shortUuid, username, status, expireAt, subscriptionUrl, ...), its
// validation (usernames of 3-36 letters, digits, '_' and '-'; no expireAt
// in the past on update) and its error bodies ({"timestamp","path",
// "message","errorCode"} with codes such as A019 "User username already
// exists", 400, and A025 "User not found", 404). A user whose expireAt has
// passed reads as EXPIRED, as the panel's own job would mark it.
//
// The versions differ as the real ones do. 2.x shows each user's uuid and
// addresses users by it; DELETE answers 200 {"isDeleted":true}. 3.x has no
// uuid: users are addressed by their numeric id, a path that is not a
// positive number (a 2.x uuid) fails validation with 400, PATCH takes
// {"id"} or {"username"}, DELETE answers 204 with no body, and users are
// also listed by keyset pages (users/stream). GET /api/system/metadata
// tells the version (2.8.1 or 3.3.2). The routes, named as Fault.Route
// takes them ({key} is {uuid} on 2.x, {id} on 3.x):
//
//	POST   /api/users                              create a user (201)
//	GET    /api/users                              page users: ?start=0&size=25 → {"users":[...],"total":N}
//	GET    /api/users/stream                       3.x: ?cursor=<id>&size=250 → {"users","nextCursor","hasMore"}
//	PATCH  /api/users                              update by uuid (2.x), id (3.x) or username
//	GET    /api/users/{key}                        read a user
//	GET    /api/users/by-username/{username}       read a user by username
//	DELETE /api/users/{key}                        delete a user
//	POST   /api/users/{key}/actions/disable        disable (400 A029 if already disabled)
//	POST   /api/users/{key}/actions/enable         enable (400 A030 if not disabled)
//	POST   /api/users/{key}/actions/revoke         new shortUuid (subscription URL) and credentials
//	GET    /api/system/metadata                    the panel's version
//
// Without a Config.SubscriptionBaseURL, the users' subscriptionUrl is the
// server's own GET /api/sub/{shortUuid}, which answers as the panel does:
// base64 share links of the user's proxies for an ACTIVE user, a single
// placeholder link to 0.0.0.0 for a disabled, expired or limited one, and
// 404 for a shortUuid that is not current (revoked or deleted).
// SubscriptionWorks tells the two answers apart, as a VPN app would.
//
// Tests read the users with Users, User and Accounts, change them behind
// the bot's back with DriftDelete, DriftDisable and DriftExpiry, count
// calls with Requests, and inject failures (latency, error statuses, hangs,
// replies lost after the panel acted) with Inject. The same controls are
// served as a small JSON API for `make run` and curl, without the token:
//
//	GET    /sandbox/users     the users
//	POST   /sandbox/faults    inject {"route","latency","status","hang","times","serve_first"}
//	DELETE /sandbox/faults    clear faults
//
// With Config.StateDir the users survive a restart (pkg/statefile): Start
// restores them, a snapshot follows the changes and Close writes the last
// one; ids are reserved on disk before they are handed out, so a run after
// a kill never hands one out twice.
package remnawave
