# shellcheck shell=bash
# scripts/chromium.sh — make Debian's chromium available for the dashboard's
# browser tests (admin/dashboard, driven by chromedp).
#
# SOURCE this file (do not execute it):
#
#     source scripts/chromium.sh
#
# It installs the `chromium` package through apt when no chromium binary is
# on PATH, and exports
#
#     TASKER_TEST_CHROMIUM=/usr/bin/chromium
#
# On failure it returns 1 when $CI is non-empty, and otherwise prints a warning
# and leaves TASKER_TEST_CHROMIUM unset (the browser tests then skip). It never
# calls `exit`, and sourcing it twice is harmless (a binary found is reused).

tasker_chromium_setup() {
	local sudo_cmd="" bin="" log="${TMPDIR:-/tmp}/tasker-chromium-apt.log"

	_tasker_chromium_fail() {
		if [ -n "${CI:-}" ]; then
			echo "scripts/chromium.sh: error: $*" >&2
			return 1
		fi
		echo "scripts/chromium.sh: warning: $* — the browser tests will be skipped" >&2
		return 0
	}

	_tasker_chromium_find() {
		command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null || true
	}

	unset TASKER_TEST_CHROMIUM
	if [ "$(id -u)" -ne 0 ]; then
		sudo_cmd="sudo"
	fi

	bin=$(_tasker_chromium_find)
	if [ -z "$bin" ]; then
		echo "scripts/chromium.sh: installing chromium with apt-get" >&2
		if ! DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y --no-install-recommends chromium fonts-dejavu-core >"$log" 2>&1; then
			echo "scripts/chromium.sh: apt-get install failed; running apt-get update first" >&2
			if ! $sudo_cmd apt-get update >>"$log" 2>&1 ||
				! DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y --no-install-recommends chromium fonts-dejavu-core >>"$log" 2>&1; then
				_tasker_chromium_fail "could not install chromium (see $log)"
				return
			fi
		fi
		bin=$(_tasker_chromium_find)
		if [ -z "$bin" ]; then
			_tasker_chromium_fail "chromium is still missing after apt-get install (see $log)"
			return
		fi
	fi

	export TASKER_TEST_CHROMIUM="$bin"
	echo "scripts/chromium.sh: chromium ready, TASKER_TEST_CHROMIUM=$TASKER_TEST_CHROMIUM" >&2
	return 0
}

if tasker_chromium_setup; then
	unset -f tasker_chromium_setup _tasker_chromium_fail _tasker_chromium_find
else
	unset -f tasker_chromium_setup _tasker_chromium_fail _tasker_chromium_find
	# Only reached when $CI is set: sourcing fails, the caller decides.
	return 1 2>/dev/null || false
fi
