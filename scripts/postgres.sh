# shellcheck shell=bash
# scripts/postgres.sh — start (or reuse) the PostgreSQL cluster used by tasker's tests.
#
# SOURCE this file from bash (do not execute it):
#
#     source scripts/postgres.sh
#
# What it does
#   * Installs the Debian `postgresql` package with apt-get when no server
#     binaries exist under /usr/lib/postgresql/*/bin (apt-get update + retry on
#     failure; sudo only when not root). Debian's own cluster is never used.
#   * Runs OUR cluster:
#       data dir     $TASKER_SERVICES_DIR/pg/data   (default /tmp/tasker-services)
#       listens on   127.0.0.1:54329 only            (TASKER_PG_PORT overrides)
#       unix socket  $TASKER_SERVICES_DIR/pg/run
#       server log   $TASKER_SERVICES_DIR/pg/postgres.log
#       settings     $TASKER_SERVICES_DIR/pg/data/tasker.conf (rewritten on every start)
#     initdb runs with `-U postgres --auth=trust`: every connection to this
#     loopback-only, test-only cluster is trusted, so the passwords in the URL
#     are not checked. Durability stays ON (fsync, full_page_writes,
#     synchronous_commit) because the tests include crash/restart scenarios;
#     only max_connections=200 and shared_buffers=128MB are tuned.
#     As root the cluster belongs to the `postgres` system user and initdb /
#     pg_ctl run through `runuser -u postgres --`; otherwise it belongs to you.
#   * Reuses a server that already accepts connections on 127.0.0.1:$port, or
#     starts the existing data dir (pg_ctl copes with a stale postmaster.pid; we
#     only delete one when pg_ctl fails and its PID is not our postmaster), or
#     initializes a new one. Waits up to 30 s for pg_isready.
#   * Creates role `tasker` (password `tasker`, LOGIN CREATEDB) and database
#     `tasker_test` owned by it, when missing.
#   * Exports
#       TASKER_TEST_POSTGRES_URL=postgres://tasker:tasker@127.0.0.1:54329/tasker_test?sslmode=disable
#       TASKER_TEST_PGCTL   absolute path of scripts/pgtest/pgctl.sh, which runs
#                           pg_ctl on this cluster as the right user; tests call
#                           "$TASKER_TEST_PGCTL" restart -m fast -w
#       TASKER_PG_CTL       pg_ctl binary of the running server's major version
#       TASKER_PG_DATA      its data directory
#       TASKER_PG_LOG       its log file
#       TASKER_PG_CTL_USER  OS user pg_ctl must run as (only set when it is not
#                           the current user, e.g. `postgres` when we are root)
#
# Failure: with $CI non-empty it prints why and returns 1; otherwise it prints
# a warning with the fix and leaves the variables above unset (the Postgres
# tests then skip). It never calls `exit` in your shell and does not touch your
# shell options: the work runs in a subshell and only the exports come back.
# Sourcing it again is cheap (pg_isready + two psql round trips).
#
# Manual control:   scripts/pgtest/pgctl.sh status | stop -m fast | start -w
# Start from zero:  scripts/pgtest/pgctl.sh stop -m fast; rm -rf /tmp/tasker-services/pg
#
# Executed instead of sourced (`bash scripts/postgres.sh`), it does the same
# work and prints `export ...` lines for eval.

if [ -z "${BASH_VERSION:-}" ]; then
	echo "scripts/postgres.sh: must be sourced from bash" >&2
	# shellcheck disable=SC2317 # exit only when executed by a non-bash shell
	return 1 2>/dev/null || exit 1
fi

# The setup itself. Runs in a subshell ( ... ), so `exit`, `cd` and option
# changes here never reach the caller. Protocol: KEY=VALUE lines on stdout
# (URL, PGCTL, DATA, LOG, USER, MSG on success; ERR and HINT on failure);
# human-readable progress goes to stderr.
_tasker_pg_setup() (
	set +e +u
	set -o pipefail
	shopt -s nullglob
	shopt -u failglob 2>/dev/null
	# fd 3 = result channel; everything else we run writes to stderr.
	exec 3>&1 1>&2 </dev/null

	emit() { printf '%s=%s\n' "$1" "$2" >&3; }
	fail() {
		emit ERR "$1"
		[ -n "${2:-}" ] && emit HINT "$2"
		exit 1
	}
	show_log() { # print the end of a log file, in CI only (locally we just name it)
		if [ -n "${CI:-}" ] && [ -r "$1" ]; then
			echo "---- last lines of $1 ----"
			tail -n 30 "$1"
			echo "----"
		fi
	}

	local host=127.0.0.1
	local port=${TASKER_PG_PORT:-54329}
	case $port in
	'' | *[!0-9]*) fail "TASKER_PG_PORT='$port' is not a TCP port number" "unset TASKER_PG_PORT (default 54329) or set it to a free port" ;;
	esac
	if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
		fail "TASKER_PG_PORT=$port is out of range" "unset TASKER_PG_PORT (default 54329) or set it to a free port"
	fi
	local svc=${TASKER_SERVICES_DIR:-/tmp/tasker-services}
	case $svc in /*) ;; *) svc=$PWD/$svc ;; esac
	local pgdir=$svc/pg
	local data=$pgdir/data sockdir=$pgdir/run logfile=$pgdir/postgres.log
	local url="postgres://tasker:tasker@$host:$port/tasker_test?sslmode=disable"
	local me uid
	{ me=$(id -un) && uid=$(id -u); } || fail "cannot determine the current user"

	cd / || fail "cannot cd /"
	# Only our explicit arguments may decide where psql/pg_ctl connect.
	unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGPASSFILE PGSERVICE \
		PGSERVICEFILE PGOPTIONS PGSSLMODE PGREQUIRESSL PGTARGETSESSIONATTRS PGDATA PGAPPNAME
	export PGCONNECT_TIMEOUT=5

	if [ ! -d "$svc" ]; then
		{ mkdir -p "$svc" && chmod 755 "$svc"; } ||
			fail "cannot create $svc" "set TASKER_SERVICES_DIR to a writable directory"
	fi

	# find_bindir [MAJOR]: server bin dir of that major version if installed,
	# else the newest installed one (or $TASKER_PG_BINDIR when set).
	find_bindir() {
		if [ -n "${TASKER_PG_BINDIR:-}" ]; then
			[ -x "$TASKER_PG_BINDIR/postgres" ] && echo "$TASKER_PG_BINDIR"
			return
		fi
		if [ -n "${1:-}" ] && [ -x "/usr/lib/postgresql/$1/bin/postgres" ]; then
			echo "/usr/lib/postgresql/$1/bin"
			return
		fi
		local p
		p=$(printf '%s\n' /usr/lib/postgresql/*/bin/postgres | sort -V | tail -n 1)
		[ -n "$p" ] && [ -x "$p" ] && dirname "$p"
	}

	as_root() {
		if [ "$uid" = 0 ]; then
			"$@"
		else
			sudo "$@"
		fi
	}

	# ---- 1. server binaries -------------------------------------------------
	local bindir
	bindir=$(find_bindir)
	if [ -z "$bindir" ]; then
		[ -n "${TASKER_PG_BINDIR:-}" ] &&
			fail "no executable postgres in TASKER_PG_BINDIR=$TASKER_PG_BINDIR" "unset TASKER_PG_BINDIR or point it at a PostgreSQL bin directory"
		if [ "$uid" != 0 ] && ! command -v sudo >/dev/null 2>&1; then
			fail "PostgreSQL server binaries are not installed and we are neither root nor able to sudo" \
				"install them as root: apt-get install -y postgresql"
		fi
		local aptlog=$svc/apt-postgresql.log
		echo "postgres: server binaries not found; installing package 'postgresql' with apt-get (log: $aptlog)"
		apt_install() {
			as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
				-o DPkg::Lock::Timeout=300 postgresql >>"$aptlog" 2>&1
		}
		if ! apt_install; then
			echo "postgres: apt-get install failed; running apt-get update and retrying"
			as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$aptlog" 2>&1
			if ! apt_install; then
				show_log "$aptlog"
				fail "apt-get install -y postgresql failed (see $aptlog)" \
					"install it by hand: sudo apt-get update && sudo apt-get install -y postgresql"
			fi
		fi
		bindir=$(find_bindir)
		[ -n "$bindir" ] || fail "package postgresql installed but no /usr/lib/postgresql/*/bin/postgres found" \
			"check the installation: dpkg -L postgresql-common; ls /usr/lib/postgresql"
	fi

	# ---- helpers --------------------------------------------------------------
	isready() { "$bindir/pg_isready" -q -h "$host" -p "$port" -U postgres -d postgres -t "${1:-3}"; }
	wait_ready() { # wait_ready SECONDS
		local deadline=$((SECONDS + $1))
		while :; do
			isready 2 && return 0
			[ "$SECONDS" -ge "$deadline" ] && return 1
			sleep 0.2
		done
	}
	apsql() { # superuser psql on the TCP port (trust auth)
		"$bindir/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U postgres -d postgres "$@"
	}
	local srv_data srv_major have_role have_db probe_err
	probe() { # learn which cluster answers and whether our role/db exist
		local out
		if ! out=$(apsql -F '|' -c "select current_setting('data_directory'),
				current_setting('server_version_num')::int / 10000,
				(select count(*) from pg_roles where rolname = 'tasker' and rolcanlogin and rolcreatedb),
				(select count(*) from pg_database d join pg_roles r on r.oid = d.datdba
				  where d.datname = 'tasker_test' and r.rolname = 'tasker')" 2>&1); then
			probe_err=$(printf '%s' "$out" | head -n 3)
			return 1
		fi
		IFS='|' read -r srv_data srv_major have_role have_db <<<"$out"
		[ -n "$srv_data" ]
	}
	# Is PID a live postmaster of data dir $2? (Its working directory is the data dir.)
	is_our_postmaster() {
		local pid=$1 dir=$2 cwd st
		case $pid in '' | *[!0-9]*) return 1 ;; esac
		[ -d "/proc/$pid" ] || return 1
		st=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) && [ "${st%% *}" = Z ] && return 1 # zombie = dead
		if cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) && [ -n "$cwd" ]; then
			[ "$cwd" = "$(readlink -f "$dir")" ]
			return
		fi
		# Cannot see its cwd (another user's process): trust its name.
		grep -qxE 'postgres|postmaster' "/proc/$pid/comm" 2>/dev/null
	}

	# Init (if needed) and start our cluster. Sets `state`.
	local state=reused owner
	local -a run=()
	start_cluster() {
		# Who owns / runs the cluster.
		if [ -e "$data" ]; then
			owner=$(stat -c %U "$data") || fail "cannot stat $data"
		elif [ "$uid" = 0 ]; then
			owner=postgres
		else
			owner=$me
		fi
		[ "$owner" = root ] && fail "$data is owned by root, but PostgreSQL refuses to run as root" "remove it: rm -rf $pgdir"
		id -u "$owner" >/dev/null 2>&1 || fail "user '$owner' (to own the cluster) does not exist" \
			"install the postgresql package (it creates the postgres user) or remove $pgdir"
		if [ "$owner" = "$me" ]; then
			run=()
		elif [ "$uid" = 0 ]; then
			command -v runuser >/dev/null 2>&1 || fail "runuser not found (util-linux)" "apt-get install -y util-linux"
			run=(runuser -u "$owner" --)
		else
			fail "$data belongs to '$owner' but we run as '$me'" \
				"run the tests as root or $owner, or use another TASKER_SERVICES_DIR"
		fi

		mkdir -p "$pgdir" "$sockdir" || fail "cannot create $pgdir" "set TASKER_SERVICES_DIR to a writable directory"
		if [ "$uid" = 0 ]; then
			{ chown "$owner:" "$pgdir" "$sockdir" && chmod 755 "$pgdir" "$sockdir"; } ||
				fail "cannot chown $pgdir to $owner"
			[ -e "$logfile" ] && chown "$owner:" "$logfile"
		fi
		{ "${run[@]}" touch "$logfile" 2>/dev/null && "${run[@]}" test -w "$sockdir"; } ||
			fail "user '$owner' cannot write into $pgdir (a parent directory is probably not accessible to it)" \
				"use a TASKER_SERVICES_DIR that '$owner' can reach, e.g. under /tmp"
		local sockpath=$sockdir/.s.PGSQL.$port
		[ "${#sockpath}" -le 107 ] || fail "unix socket path $sockpath is longer than 107 bytes" \
			"use a shorter TASKER_SERVICES_DIR"

		# Version of an existing data dir decides the binaries.
		if [ -f "$data/PG_VERSION" ]; then
			local want
			want=$(cat "$data/PG_VERSION")
			if [ -z "${TASKER_PG_BINDIR:-}" ] && [ ! -x "/usr/lib/postgresql/$want/bin/postgres" ]; then
				fail "$data was created by PostgreSQL $want, which is not installed (have: $bindir)" \
					"remove the old cluster: rm -rf $pgdir (or apt-get install postgresql-$want)"
			fi
			bindir=$(find_bindir "$want")
		elif [ -e "$data" ] && [ -n "$(ls -A "$data" 2>/dev/null)" ]; then
			fail "$data exists but is not a PostgreSQL data directory (no PG_VERSION)" "remove it: rm -rf $data"
		else
			local loc=C
			locale -a 2>/dev/null | grep -qixE 'c\.utf-?8' && loc=C.UTF-8
			echo "postgres: initializing a new cluster in $data"
			if ! "${run[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust \
				-E UTF8 --locale="$loc" >>"$logfile" 2>&1; then
				show_log "$logfile"
				fail "initdb failed (see $logfile)" "remove $pgdir and source scripts/postgres.sh again"
			fi
			state=initialized
		fi

		# Our settings, in a file included from postgresql.conf (later lines win).
		local sq="'" sqsq="''"
		printf '%s\n' \
			"# Written by scripts/postgres.sh before every start; edit that script, not this file." \
			"listen_addresses = '127.0.0.1'" \
			"port = $port" \
			"unix_socket_directories = '${sockdir//$sq/$sqsq}'" \
			"max_connections = 200" \
			"shared_buffers = 128MB" \
			"# Durability stays on: the tests include crash/restart scenarios." \
			"fsync = on" \
			"full_page_writes = on" \
			"synchronous_commit = on" \
			"logging_collector = off" \
			"log_line_prefix = '%m [%p] %q%u@%d '" |
			"${run[@]}" tee "$data/tasker.conf" >/dev/null || fail "cannot write $data/tasker.conf"
		if ! grep -qx "include 'tasker.conf'" "$data/postgresql.conf"; then
			echo "include 'tasker.conf'" | "${run[@]}" tee -a "$data/postgresql.conf" >/dev/null ||
				fail "cannot edit $data/postgresql.conf"
		fi

		# Start. pg_ctl points the postmaster's stdin/stdout/stderr at /dev/null
		# and the log; every other fd (our result pipe, the lock, whatever our
		# caller had open) is closed first so the daemon cannot hold it open.
		pg_start() (
			local f
			for f in /proc/self/fd/*; do
				f=${f##*/}
				[ "$f" -gt 2 ] && eval "exec $f>&-" 2>/dev/null
			done
			exec "${run[@]}" "$bindir/pg_ctl" -D "$data" -l "$logfile" -w -t 30 start 2>&1
		)
		local out pid
		[ "$state" = reused ] && state=started
		if ! out=$(pg_start); then
			pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null)
			if [ -n "$pid" ] && is_our_postmaster "$pid" "$data"; then
				# Our postmaster is alive (still starting, shutting down, or on another port).
				local pidport
				pidport=$(sed -n 4p "$data/postmaster.pid" 2>/dev/null)
				if [ -n "$pidport" ] && [ "$pidport" != "$port" ]; then
					fail "$data is already served by postmaster PID $pid on port $pidport, not $port" \
						"use TASKER_PG_PORT=$pidport, or stop it first: TASKER_SERVICES_DIR=$svc scripts/pgtest/pgctl.sh stop -m fast"
				fi
				wait_ready 30 || fail "postmaster PID $pid already runs on $data but does not accept connections on $host:$port" \
					"stop it (scripts/pgtest/pgctl.sh stop -m fast, or kill $pid) and source scripts/postgres.sh again"
				state=reused
			elif [ -n "$pid" ]; then
				echo "postgres: removing stale $data/postmaster.pid (PID $pid is not our postmaster)"
				rm -f "$data/postmaster.pid"
				local lock=$sockdir/.s.PGSQL.$port.lock lpid
				lpid=$(head -n 1 "$lock" 2>/dev/null)
				[ -n "$lpid" ] && ! is_our_postmaster "$lpid" "$data" && rm -f "$lock"
				if ! out=$(pg_start); then
					printf '%s\n' "$out"
					show_log "$logfile"
					fail "pg_ctl start failed even after removing a stale postmaster.pid (see $logfile)" \
						"look at $logfile; to start from zero: rm -rf $pgdir"
				fi
			else
				printf '%s\n' "$out"
				show_log "$logfile"
				fail "pg_ctl start failed (see $logfile)" \
					"is port $port taken by something else? (ss -ltnp | grep $port) — set TASKER_PG_PORT to another port, or rm -rf $pgdir to start from zero"
			fi
		fi
		wait_ready 30 || {
			show_log "$logfile"
			fail "server started but does not accept connections on $host:$port within 30 s (see $logfile)"
		}
	}

	# ---- 2. fast path: already running and set up -------------------------------
	if ! { isready 2 && probe && [ "$have_role" = 1 ] && [ "$have_db" = 1 ]; }; then
		# ---- 3. slow path, serialized between concurrent callers ----------------
		local lockfile=$svc/pg.lock
		touch "$lockfile" 2>/dev/null
		if [ -w "$lockfile" ] && command -v flock >/dev/null 2>&1; then
			exec 9>>"$lockfile"
			flock -w 180 9 || fail "timed out waiting for $lockfile (another postgres.sh still running?)"
		fi
		local st=0
		isready 2 || st=$?
		if [ "$st" = 1 ]; then # server is starting up or shutting down
			wait_ready 30
			isready 2 || st=$?
		fi
		if [ "$st" = 0 ]; then
			probe || fail "something accepts connections on $host:$port but we cannot connect as superuser 'postgres': $probe_err" \
				"stop whatever listens on port $port, or choose another port with TASKER_PG_PORT"
		else
			start_cluster
			probe || fail "cannot connect to the new server as superuser 'postgres': $probe_err" "see $logfile"
		fi
		if [ "$have_role" != 1 ] || [ "$have_db" != 1 ]; then
			local sqlout
			sqlout=$(apsql 2>&1 <<'SQL'
DO $$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tasker') THEN
    CREATE ROLE tasker LOGIN CREATEDB PASSWORD 'tasker';
  ELSE
    ALTER ROLE tasker LOGIN CREATEDB PASSWORD 'tasker';
  END IF;
END$$;
SELECT 'CREATE DATABASE tasker_test OWNER tasker'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'tasker_test') \gexec
ALTER DATABASE tasker_test OWNER TO tasker;
SQL
			) || fail "creating role tasker / database tasker_test failed: $(printf '%s' "$sqlout" | head -n 3)"
		fi
	fi

	# ---- 4. end-to-end check with the URL the tests will use --------------------
	local chk
	{ chk=$("$bindir/psql" -X -At "$url" -c 'select 1' 2>&1) && [ "$chk" = 1 ]; } ||
		fail "cannot connect with $url: $(printf '%s' "$chk" | head -n 3)" \
			"see $logfile; to start from zero: scripts/pgtest/pgctl.sh stop -m fast; rm -rf $pgdir"

	# ---- 5. report ------------------------------------------------------------------
	local ctl_bindir ctl_user srv_owner srv_log
	ctl_bindir=$(find_bindir "$srv_major")
	[ -n "$ctl_bindir" ] || ctl_bindir=$bindir
	srv_owner=$(stat -c %U "$srv_data" 2>/dev/null)
	ctl_user=
	[ -n "$srv_owner" ] && [ "$srv_owner" != "$me" ] && ctl_user=$srv_owner
	if [ "$(readlink -f "$srv_data")" = "$(readlink -f "$data")" ]; then
		srv_log=$logfile
	else
		srv_log=$(dirname "$srv_data")/postgres.log
	fi
	emit URL "$url"
	emit PGCTL "$ctl_bindir/pg_ctl"
	emit DATA "$srv_data"
	emit LOG "$srv_log"
	emit USER "$ctl_user"
	emit MSG "ready at $host:$port ($state, PostgreSQL $srv_major, data $srv_data)"
)

# Runs the setup and applies its result to the current shell.
_tasker_pg_source() {
	local out rc=0 line k v url='' pgctl='' data='' log='' user='' msg='' err='' hint='' helper=''
	out=$(_tasker_pg_setup) || rc=$?
	while IFS= read -r line; do
		k=${line%%=*} v=${line#*=}
		case $k in
		URL) url=$v ;;
		PGCTL) pgctl=$v ;;
		DATA) data=$v ;;
		LOG) log=$v ;;
		USER) user=$v ;;
		MSG) msg=$v ;;
		ERR) err=$v ;;
		HINT) hint=$v ;;
		esac
	done <<<"$out"
	helper=$(CDPATH='' cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P) || helper=''
	[ -n "$helper" ] && helper=$helper/pgtest/pgctl.sh

	if [ "$rc" -eq 0 ] && [ -n "$url" ]; then
		export TASKER_TEST_POSTGRES_URL="$url" TASKER_PG_CTL="$pgctl" TASKER_PG_DATA="$data" TASKER_PG_LOG="$log"
		if [ -n "$user" ]; then export TASKER_PG_CTL_USER="$user"; else unset TASKER_PG_CTL_USER; fi
		if [ -n "$helper" ] && [ -x "$helper" ]; then export TASKER_TEST_PGCTL="$helper"; else unset TASKER_TEST_PGCTL; fi
		printf 'postgres: %s\n' "$msg" >&2
		return 0
	fi

	unset TASKER_TEST_POSTGRES_URL TASKER_TEST_PGCTL TASKER_PG_CTL TASKER_PG_DATA TASKER_PG_LOG TASKER_PG_CTL_USER
	[ -n "$err" ] || err="setup failed (exit status $rc)"
	if [ -n "${CI:-}" ]; then
		printf 'postgres: ERROR: %s\n' "$err" >&2
		if [ -n "$hint" ]; then printf 'postgres: fix: %s\n' "$hint" >&2; fi
		return 1
	fi
	printf 'postgres: WARNING: %s\n' "$err" >&2
	if [ -n "$hint" ]; then printf 'postgres: to fix: %s\n' "$hint" >&2; fi
	printf 'postgres: TASKER_TEST_POSTGRES_URL is unset; tests that need PostgreSQL will be skipped.\n' >&2
	return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	# Executed, not sourced: do the work and print the exports for eval.
	_tasker_pg_source || exit
	for _tasker_pg_v in TASKER_TEST_POSTGRES_URL TASKER_TEST_PGCTL TASKER_PG_CTL TASKER_PG_DATA TASKER_PG_LOG TASKER_PG_CTL_USER; do
		[ -n "${!_tasker_pg_v:-}" ] && printf 'export %s=%q\n' "$_tasker_pg_v" "${!_tasker_pg_v}"
	done
	exit 0
fi

_tasker_pg_source && _tasker_pg_rc=0 || _tasker_pg_rc=$?
unset -f _tasker_pg_setup _tasker_pg_source
# Expands the status before unsetting the variable, then returns it to the caller.
eval "unset _tasker_pg_rc; return $_tasker_pg_rc"
