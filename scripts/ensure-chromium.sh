#!/usr/bin/env bash
# Makes sure a headless Chromium is there for the browser end-to-end tests
# (e2e/webchat_test.go, e2e/webchat_format_test.go), with a colour emoji font:
# without one, Debian's Chromium draws the bot's emoji as empty boxes and the
# tests, which check that they are in colour, fail. Order: the browser at
# CHROMIUM_PATH or on PATH and an emoji font known to fontconfig; else Debian's
# chromium and fonts-noto-color-emoji packages, installed when we are root;
# else a message saying what to install. VPNBOT_SKIP_BROWSER=1, which leaves
# those tests out, needs none.
set -euo pipefail

if [ "${VPNBOT_SKIP_BROWSER:-}" = 1 ]; then exit 0; fi

browser_found() {
	if [ -n "${CHROMIUM_PATH:-}" ]; then
		[ -x "$CHROMIUM_PATH" ]
		return
	fi
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1
}

emoji_found() {
	if command -v fc-list >/dev/null 2>&1; then
		fc-list : family | grep -qi 'color emoji'
		return
	fi
	find /usr/share/fonts /usr/local/share/fonts -iname '*emoji*' 2>/dev/null | grep -q .
}

missing=()
browser_found || missing+=(chromium)
emoji_found || missing+=(fonts-noto-color-emoji)
if [ ${#missing[@]} = 0 ]; then exit 0; fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "ensure-chromium: installing ${missing[*]} with apt-get" >&2
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	if browser_found && emoji_found; then exit 0; fi
fi

cat >&2 <<MSG
ensure-chromium: missing for the browser end-to-end tests: ${missing[*]}.
Install them (Debian/Ubuntu: sudo apt-get install chromium fonts-noto-color-emoji),
or set CHROMIUM_PATH to a Chromium or Chrome binary and install a colour emoji
font, or set VPNBOT_SKIP_BROWSER=1 to leave those tests out.
MSG
exit 1
