#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers for the tests and `make run`.
# Order: the server at TEST_DATABASE_URL / DATABASE_URL if one answers; else the
# machine's own cluster (started if it is stopped); else Debian's postgresql
# package, installed when we are root; else a message saying what is missing.
set -euo pipefail

url=${TEST_DATABASE_URL:-${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}}

answers() {
	if command -v pg_isready >/dev/null 2>&1; then
		pg_isready -q -d "$url" -t 3
	else
		# No client tools: try the TCP port of the URL.
		local hostport=${url#*@}
		hostport=${hostport%%/*}
		local host=${hostport%%:*} port=${hostport##*:}
		[ "$host" = "$port" ] && port=5432
		timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
	fi
}

if answers; then exit 0; fi

start_cluster() {
	command -v pg_ctlcluster >/dev/null 2>&1 || return 1
	local version
	version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
	[ -n "$version" ] || return 1
	echo "ensure-postgres: starting the local PostgreSQL $version cluster" >&2
	pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
	for _ in $(seq 1 30); do answers && return 0; sleep 1; done
	return 1
}

if start_cluster; then exit 0; fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "ensure-postgres: installing PostgreSQL with apt-get" >&2
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
	version=$(ls /etc/postgresql | sort -V | tail -n 1)
	# Trust local TCP connections, as the tests connect as postgres without a password.
	hba=/etc/postgresql/$version/main/pg_hba.conf
	sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
	sed -i -E 's/^(local\s+all\s+postgres\s+)\S+/\1trust/' "$hba"
	# The package may have started the cluster already: make it read the new rules.
	pg_ctlcluster --skip-systemctl-redirect "$version" main reload 2>/dev/null || true
	if start_cluster; then exit 0; fi
fi

cat >&2 <<MSG
ensure-postgres: no PostgreSQL answers at $url.
Install and start one (Debian/Ubuntu: apt-get install postgresql, trust auth on 127.0.0.1),
or point TEST_DATABASE_URL (tests) / DATABASE_URL (make run) at a server you have.
MSG
exit 1
