// Package marzban is a fake Marzban panel (Gozargah/Marzban) for tests and
// `make run`.
//
// It follows Marzban 0.8.4 (tag v0.8.4, January 2025; the dev and next
// branches of February 2025 answer the same), as read in the panel's source:
// app/routers/admin.py, user.py and subscription.py, app/models/user.py and
// proxy.py, app/db/crud.py (update_user, revoke_user_sub), app/utils/jwt.py
// and app/dependencies.py. It speaks the real protocol, so pkg/vpn's Marzban
// adapter is what gets exercised:
//
//   - Admin login is OAuth2's password flow: POST /api/admin/token with a
//     form of username and password answers {"access_token","token_type"},
//     an HS256 JWT that expires after Config.TokenLifetime (401 "Incorrect
//     username or password" otherwise). Every /api call but the login wants
//     it as a bearer token: none is 401 "Not authenticated", a wrong or
//     expired one 401 "Could not validate credentials".
//   - Errors are FastAPI's {"detail": "..."}: 404 "User not found", 409
//     "User already exists", 400 "Protocol x is disabled on your server";
//     validation failures are 422 {"detail": {"<field>": "<message>"}}, as
//     the panel's own handler words them (usernames of 3 to 32 letters,
//     digits and underscores; at least one proxy; known inbounds).
//   - A user has proxies (vless and vmess ids, trojan and shadowsocks
//     passwords, made up when not given), inbounds by protocol, expire (Unix
//     seconds, null for none), data_limit (bytes, null for unlimited), a
//     status (active, disabled, limited, expired, on_hold) that PUT moves as
//     the panel's update_user does (a new expiry or limit makes an expired
//     or limited user active again; a disabled one stays disabled), and that
//     the panel's review job turns limited or expired: the sandbox does that
//     whenever it reads a user. A PUT that gives proxies replaces them, with
//     fresh credentials where it gives none.
//   - subscription_url is issued anew in every answer, as on the panel:
//     "<Config.SubscriptionURLPrefix>/sub/<token>", relative to the panel by
//     default, where the token is base64url("<username>,<now in Unix seconds,
//     rounded up>") and ten characters of a signature. A token is valid from
//     the second it names until the user is deleted or its subscription
//     revoked at a later instant: so two reads a second apart give two
//     different URLs that both work, and a token issued within the second of
//     a revocation survives it, as on the panel.
//   - GET /sub/{token} answers the user's share links (vless://, vmess://,
//     trojan://, ss://), base64-encoded, for any valid token whatever the
//     user's status, as the panel does; its Xray core is what refuses a user
//     that is not active, or credentials that were revoked: Connects says
//     whether a link would connect. An invalid token is 404 Not Found.
//
// The routes, named as Fault.Route takes them:
//
//	POST   /api/admin/token                    log in (form username, password)
//	POST   /api/user                           create a user (409 if the username exists)
//	GET    /api/user/{username}                read a user
//	PUT    /api/user/{username}                modify (status, expire, data_limit, proxies, inbounds, note)
//	DELETE /api/user/{username}                delete → {"detail":"User successfully deleted"}
//	POST   /api/user/{username}/revoke_sub     new subscription token and proxy credentials
//	POST   /api/user/{username}/reset          reset the data usage (a limited user turns active)
//	GET    /api/users                          ?offset&limit&search&status&sort → {"users":[...],"total":N}
//	GET    /sub/{token}                        the subscription (no faults, not counted)
//
// Tests read the users with Users and User, count calls with Requests,
// inject failures (latency, error statuses, hangs, replies lost after the
// panel acted) with Inject, move the panel's clock with Config.Now, and act
// behind the bot's back as an operator would with DriftDelete, DriftDisable,
// DriftExpiry and DriftUsage. With Config.StateDir the users and the secret
// survive a restart (pkg/statefile), so issued tokens and links still work.
// The controls are also served as a small JSON API, without a token:
//
//	GET    /sandbox/users     the users
//	POST   /sandbox/faults    inject {"route","latency","status","hang","times","serve_first"}
//	DELETE /sandbox/faults    clear faults
//
// Not modelled: admins other than the one sudo admin, user templates,
// nodes, hosts, next plans, on-hold timers, usage history and the
// subscription formats other than v2ray's (clash, sing-box, outline, JSON,
// the HTML page).
package marzban
