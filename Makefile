.PHONY: help test race unit lint vet bench demo

help: ## list targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

test: ## the whole suite: starts Postgres and Redis, vet, go test -race
	./scripts/test.sh

race: test ## alias of test (the suite always runs with -race)

unit: ## quick tests without services (server tests skip)
	go test -count=1 ./...

lint: vet ## go vet and gofmt check
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

vet: ## go vet
	go vet ./...

bench: ## store and engine benchmarks
	go test -run '^$$' -bench . -benchtime 2s ./store/... ./engine/...

demo: ## the order demo on ./tasker-demo.db
	go run ./cmd/tasker demo
