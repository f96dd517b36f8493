#!/usr/bin/env bash
# Makes promtool available for `make check-alerts`: the one on PATH, else
# Debian's prometheus package (which ships it) installed with apt-get when we
# are root; otherwise it says what is missing and fails.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
	exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "promtool not found: installing Debian's prometheus package" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# --no-install-recommends: promtool only, not a running Prometheus's extras.
	apt-get install -y -qq --no-install-recommends prometheus >/dev/null
	# The package starts a Prometheus server where systemd runs; promtool is
	# all the checks need, so leave no server behind where it could start one.
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
		systemctl stop prometheus || true
	fi
	command -v promtool >/dev/null 2>&1 && exit 0
	echo "installed Debian's prometheus package, but promtool is still not on PATH" >&2
	exit 1
fi
echo "promtool is missing: install Debian's 'prometheus' package (apt-get install prometheus) or put promtool on PATH" >&2
exit 1
