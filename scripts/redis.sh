# shellcheck shell=bash
# scripts/redis.sh — start a throwaway Redis for the cachex tests.
#
# SOURCE this file (do not execute it):
#
#     source scripts/redis.sh
#
# It installs redis-server through apt when the binary is missing, starts it on
# 127.0.0.1:63790 without persistence (or reuses an instance already answering
# PING there), waits for PONG, and exports
#
#     TASKER_TEST_REDIS_URL=redis://127.0.0.1:63790/0
#
# On failure it returns 1 when $CI is non-empty, and otherwise prints a warning
# and leaves TASKER_TEST_REDIS_URL unset (the Redis tests then skip). It never
# calls `exit`, and sourcing it twice is harmless.
#
# Redis started here holds test cache and coordination data only.

tasker_redis_setup() {
	local port=63790
	local dir="${TASKER_SERVICES_DIR:-/tmp/tasker-services}/redis"
	local sudo_cmd=""
	local i

	_tasker_redis_fail() {
		if [ -n "${CI:-}" ]; then
			echo "scripts/redis.sh: error: $*" >&2
			return 1
		fi
		echo "scripts/redis.sh: warning: $* — Redis tests will be skipped" >&2
		return 0
	}

	_tasker_redis_ping() {
		command -v redis-cli >/dev/null 2>&1 &&
			[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = "PONG" ]
	}

	unset TASKER_TEST_REDIS_URL

	if [ "$(id -u)" -ne 0 ]; then
		sudo_cmd="sudo"
	fi

	if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
		echo "scripts/redis.sh: installing redis-server with apt-get" >&2
		if ! DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y redis-server >"${TMPDIR:-/tmp}/tasker-redis-apt.log" 2>&1; then
			echo "scripts/redis.sh: apt-get install failed; running apt-get update first" >&2
			if ! $sudo_cmd apt-get update >>"${TMPDIR:-/tmp}/tasker-redis-apt.log" 2>&1 ||
				! DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y redis-server >>"${TMPDIR:-/tmp}/tasker-redis-apt.log" 2>&1; then
				_tasker_redis_fail "could not install redis-server (see ${TMPDIR:-/tmp}/tasker-redis-apt.log)"
				return
			fi
		fi
		if ! command -v redis-server >/dev/null 2>&1; then
			_tasker_redis_fail "redis-server is still missing after apt-get install"
			return
		fi
	fi

	if ! _tasker_redis_ping; then
		if ! mkdir -p "$dir"; then
			_tasker_redis_fail "cannot create $dir"
			return
		fi
		# The Debian package may have started a system instance on 6379; we
		# leave it alone and run our own on $port.
		if ! redis-server \
			--bind 127.0.0.1 \
			--port "$port" \
			--save '' \
			--appendonly no \
			--daemonize yes \
			--pidfile "$dir/redis.pid" \
			--logfile "$dir/redis.log" \
			--dir "$dir"; then
			_tasker_redis_fail "redis-server failed to start (see $dir/redis.log)"
			return
		fi
		for i in $(seq 1 100); do
			if _tasker_redis_ping; then
				break
			fi
			sleep 0.1
		done
		if ! _tasker_redis_ping; then
			_tasker_redis_fail "redis-server on port $port did not answer PING within 10s (see $dir/redis.log)"
			return
		fi
	fi

	export TASKER_TEST_REDIS_URL="redis://127.0.0.1:${port}/0"
	echo "scripts/redis.sh: Redis ready, TASKER_TEST_REDIS_URL=$TASKER_TEST_REDIS_URL" >&2
	return 0
}

if tasker_redis_setup; then
	unset -f tasker_redis_setup _tasker_redis_fail _tasker_redis_ping
else
	unset -f tasker_redis_setup _tasker_redis_fail _tasker_redis_ping
	# Only reached when $CI is set: sourcing fails, the caller decides.
	return 1 2>/dev/null || false
fi
