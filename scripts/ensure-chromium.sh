#!/usr/bin/env bash
# Makes sure a headless Chromium is there for the browser end-to-end test
# (e2e/webchat_test.go). Order: the browser at CHROMIUM_PATH or on PATH; else
# Debian's chromium package, installed when we are root; else a message saying
# what to install. VPNBOT_SKIP_BROWSER=1, which leaves that test out, needs none.
set -euo pipefail

if [ "${VPNBOT_SKIP_BROWSER:-}" = 1 ]; then exit 0; fi

found() {
	if [ -n "${CHROMIUM_PATH:-}" ]; then
		[ -x "$CHROMIUM_PATH" ]
		return
	fi
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1
}

if found; then exit 0; fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "ensure-chromium: installing Chromium with apt-get" >&2
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
	if found; then exit 0; fi
fi

cat >&2 <<MSG
ensure-chromium: no Chromium found for the browser end-to-end test.
Install it (Debian/Ubuntu: sudo apt-get install chromium), or set CHROMIUM_PATH
to a Chromium or Chrome binary, or set VPNBOT_SKIP_BROWSER=1 to leave that test out.
MSG
exit 1
