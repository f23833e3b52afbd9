#!/usr/bin/env bash
# scripts/pgtest/pgctl.sh — run pg_ctl on tasker's test cluster (the one
# scripts/postgres.sh starts), as the OS user that owns it.
#
#     "$TASKER_TEST_PGCTL" restart -m fast -w     # what the Go tests run
#     scripts/pgtest/pgctl.sh status
#     scripts/pgtest/pgctl.sh stop -m fast
#     scripts/pgtest/pgctl.sh start -w
#
# Arguments are passed to `pg_ctl -D <data dir>`. Uses TASKER_PG_DATA,
# TASKER_PG_CTL, TASKER_PG_LOG and TASKER_PG_CTL_USER as exported by
# scripts/postgres.sh, and otherwise the same defaults: data dir
# ${TASKER_SERVICES_DIR:-/tmp/tasker-services}/pg/data, the pg_ctl matching its
# PG_VERSION, and the data dir's owner (via runuser when we are root, since
# pg_ctl refuses to run as root). The exit status is pg_ctl's.
set -euo pipefail

svc=${TASKER_SERVICES_DIR:-/tmp/tasker-services}
data=${TASKER_PG_DATA:-$svc/pg/data}
log=${TASKER_PG_LOG:-$(dirname -- "$data")/postgres.log}

if [[ ! -d $data ]]; then
	echo "pgctl.sh: data directory $data does not exist (source scripts/postgres.sh first)" >&2
	exit 1
fi

pgctl=${TASKER_PG_CTL:-}
if [[ -z $pgctl ]]; then
	ver=$(cat -- "$data/PG_VERSION" 2>/dev/null || true)
	if [[ -n $ver && -x /usr/lib/postgresql/$ver/bin/pg_ctl ]]; then
		pgctl=/usr/lib/postgresql/$ver/bin/pg_ctl
	else
		shopt -s nullglob
		pgctl=$(printf '%s\n' /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n 1)
	fi
fi
if [[ -z $pgctl || ! -x $pgctl ]]; then
	echo "pgctl.sh: pg_ctl not found (set TASKER_PG_CTL or source scripts/postgres.sh)" >&2
	exit 127
fi

user=${TASKER_PG_CTL_USER:-$(stat -c %U -- "$data")}

args=(-D "$data")
# start/restart: the server's output must go to the log file, never to our
# caller's stdout/stderr (a postmaster holding a test's output pipe open would
# make the test hang waiting for EOF).
for a in "$@"; do
	case $a in
	start | restart)
		args+=(-l "$log")
		break
		;;
	esac
done

# The server inherits pg_ctl's environment; keep client settings out of it.
unset PGDATA PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGOPTIONS
cd /
# Close inherited fds above 2 so a (re)started postmaster cannot hold our
# caller's pipes open.
for f in /proc/self/fd/*; do
	f=${f##*/}
	if [[ $f -gt 2 ]]; then eval "exec $f>&-" 2>/dev/null || true; fi
done

if [[ $user == "$(id -un)" ]]; then
	exec "$pgctl" "${args[@]}" "$@"
elif [[ $(id -u) == 0 ]]; then
	exec runuser -u "$user" -- "$pgctl" "${args[@]}" "$@"
else
	exec sudo -n -u "$user" -- "$pgctl" "${args[@]}" "$@"
fi
