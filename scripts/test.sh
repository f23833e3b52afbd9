#!/usr/bin/env bash
# The whole test suite: brings up PostgreSQL and Redis on loopback (installing
# them from Debian's packages when missing), then vets and runs every test
# with the race detector. Extra arguments go to `go test` (e.g. -run Foo).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/postgres.sh
source scripts/postgres.sh || exit 1
if [ -f scripts/redis.sh ]; then
	# shellcheck source=scripts/redis.sh
	source scripts/redis.sh || exit 1
fi

echo "go vet ./..."
go vet ./...
echo "go test -race ./..."
go test -race -count=1 -timeout 20m "$@" ./...
