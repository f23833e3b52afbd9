#!/usr/bin/env bash
# The whole test suite: brings up PostgreSQL and Redis on loopback and finds
# chromium for the dashboard's browser tests (installing them from Debian's
# packages when missing), then checks formatting (gofmt),
# vets, runs staticcheck (the version pinned by go.mod's tool directive) and
# runs every test with the race detector. Extra arguments go to `go test` (e.g. -run Foo).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/postgres.sh
source scripts/postgres.sh || exit 1
if [ -f scripts/redis.sh ]; then
	# shellcheck source=scripts/redis.sh
	source scripts/redis.sh || exit 1
fi
# shellcheck source=scripts/chromium.sh
source scripts/chromium.sh || exit 1

echo "gofmt -l ."
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt: these files need formatting (run gofmt -w):" >&2
	echo "$unformatted" >&2
	exit 1
fi
echo "go vet ./..."
go vet ./...
echo "staticcheck ./... (pinned in go.mod: go tool staticcheck)"
go tool staticcheck ./...
echo "go test -race -p 3 ./..."
# Three test binaries at a time on two cores: some wait more than they
# work (the schedule test's two minutes of 1-second ticks, the crash and
# browser tests), and a third keeps the cores busy meanwhile.
go test -race -p 3 -count=1 -timeout 20m "$@" ./...

# Tests that restart the shared PostgreSQL server run alone, after the rest.
if [ $# -eq 0 ]; then
	echo "go test -race ./internal/multiproc -run Restart (alone: it restarts PostgreSQL)"
	TASKER_TEST_PG_RESTART=1 go test -race -count=1 -run 'Restart' ./internal/multiproc/
fi
