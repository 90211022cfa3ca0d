# Ordo's developer entry points. `make help` lists them.
SHELL       := /usr/bin/env bash
GO          ?= go
ORDO_LOCAL  ?= $(CURDIR)/.local
BIN         := bin/ordo
# Ordo on this machine reaches Postgres by the Unix socket of the local cluster (or by
# ORDO_POSTGRES_URL when set): deploy/local/postgres.sh url.
PGENV       := ORDO_POSTGRES_URL="$$(deploy/local/postgres.sh url)"
GOTESTFLAGS ?=
# Pure packages (no goroutines) skip the race detector; everything else runs with it.
PURE_PKGS   := /domain/|/schemas$$
# Tests that skip it too: the relay's kill -9 test runs the relay as a separate (race-free)
# binary, and its own process mostly reads ~100,000 records back from Kafka, which under
# the race detector took minutes instead of a tenth of a second (franz-go's LZ4 reader
# takes a 4 MB block from a sync.Pool for every batch, and the race detector makes pools
# drop what they are given: a new block per batch, each one range-annotated).
NORACE_TESTS := ^TestRelaySurvivesKill9$$
NORACE_PKGS  := ./eventstore/relay/
export ORDO_LOCAL

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}'

.PHONY: up
up: ## Install (if missing) and start Postgres, Kafka and ClickHouse under .local/
	@deploy/local/stack.sh up

.PHONY: down
down: ## Stop the local stack
	@deploy/local/stack.sh down

.PHONY: status
status: ## Show what the local stack runs and where it listens
	@deploy/local/stack.sh status

.PHONY: build
build: ## Build bin/ordo
	$(GO) build -o $(BIN) ./cmd/ordo

$(ORDO_LOCAL)/jwt-secret:
	@mkdir -p $(ORDO_LOCAL) && umask 077 && head -c 48 /dev/urandom | base64 -w0 > $@

.PHONY: migrate
migrate: build ## Apply migrations and create Kafka topics (needs the stack up)
	$(PGENV) $(BIN) migrate

.PHONY: run
run: up build $(ORDO_LOCAL)/jwt-secret ## Start the stack, migrate, and run `ordo all` on 127.0.0.1:8080
	$(PGENV) $(BIN) migrate
	@echo
	@echo "Ordo on http://127.0.0.1:8080  (readiness: curl -s 127.0.0.1:8080/readyz)"
	@echo "Log in as an admin: $(BIN) users add --email admin@example.com --role admin --password-stdin"
	@echo "Operator console: http://127.0.0.1:8080/console/ (admins)"
	@echo
	$(PGENV) ORDO_JWT_SECRET="$$(cat $(ORDO_LOCAL)/jwt-secret)" exec $(BIN) all

.PHONY: test
test: up ## Start the stack if needed and run every test, integration included
	@deploy/local/chromium.sh || echo "warning: Chromium could not be installed; the console's browser test (web/e2e_test.go) will skip"
	$(GO) vet ./...
	cd bench && $(GO) vet ./... # the peer module (make bench-peer) has a go.mod of its own
	cd bench && $(GO) run . --scale 0.01 >/dev/null # and runs (a hundredth of the work: its form, not its figures)
	$(GO) test $(GOTESTFLAGS) -race -skip '$(NORACE_TESTS)' $$($(GO) list ./... | grep -vE '$(PURE_PKGS)')
	$(GO) test $(GOTESTFLAGS) -run '$(NORACE_TESTS)' $(NORACE_PKGS)
	@pure=$$($(GO) list ./... | grep -E '$(PURE_PKGS)'); [ -z "$$pure" ] || $(GO) test $(GOTESTFLAGS) $$pure

# The fault suite breaks the stack it runs on (kill -9 of every role, Kafka and Postgres
# restarts, ClickHouse stopped for 30 s): the local one unless ORDO_FAULTS_STACK=private
# (faults/stack.sh private up && eval "$$(faults/stack.sh private env)"). docs/RELIABILITY.md.
FAULTS_TEST := $(GO) test -tags faults -count=1 -v -run TestFaults ./faults/

.PHONY: test-faults
test-faults: ## The fault suite (faults/): faults injected under traffic, invariants checked; restarts the local stack's services
	@[ "$${ORDO_FAULTS_STACK:-local}" != local ] || deploy/local/stack.sh up
	$(FAULTS_TEST) -timeout 45m

.PHONY: test-faults-ci
test-faults-ci: up ## The fault suite's bounded variant (-short) that CI runs, on a private stack of its own (ports 25432/29092/29000)
	@set -e; export ORDO_FAULTS_STACK_DIR=$(ORDO_LOCAL)/faults-stack; \
	trap 'faults/stack.sh private down >/dev/null 2>&1 || true' EXIT; \
	faults/stack.sh private up; eval "$$(faults/stack.sh private env)"; \
	$(FAULTS_TEST) -short -timeout 20m

.PHONY: console-screenshots
console-screenshots: up ## Run the console's browser test and write its screenshots to docs/console/
	@deploy/local/chromium.sh
	ORDO_CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console $(GO) test -count=1 -run TestConsoleInARealBrowser ./web/

.PHONY: lint
lint: ## Run golangci-lint (installed into .local/bin on first use)
	@test -x $(ORDO_LOCAL)/bin/golangci-lint || GOBIN=$(ORDO_LOCAL)/bin $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
	$(ORDO_LOCAL)/bin/golangci-lint run ./...

.PHONY: check-deploy
check-deploy: ## Check deploy/: alert rules and their tests, kustomize, compose, Dockerfile, dashboard (UPDATE=1 regenerates)
	@deploy/local/tools.sh
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts_test.yml
	promtool check config deploy/prometheus/prometheus.yml
	@if command -v kubectl >/dev/null; then for o in dev production; do \
	  echo "kubectl kustomize deploy/k8s/overlays/$$o"; kubectl kustomize deploy/k8s/overlays/$$o >/dev/null || exit 1; done; fi
	cd deploy/k8s/check && $(GO) test $(GOTESTFLAGS) $(if $(UPDATE),-update) ./...

.PHONY: bench
bench: up build ## Run `ordo bench` (JSON lines: ours vs the raw library's ceiling)
	$(PGENV) $(BIN) migrate
	$(PGENV) $(BIN) bench all

.PHONY: bench-peer
bench-peer: up ## Measure Ordo against a peer (watermill-sql) in the bench/ module (its own go.mod)
	cd bench && $(GO) run .

FUZZTIME ?= 10s

.PHONY: fuzz
fuzz: up ## Run every fuzz target of the module (func Fuzz* in *_test.go) for FUZZTIME each (default 10s; a count such as 1000x avoids a Go 1.26 end-of-duration flake), one after another
	@set -e; start=$$(date +%s); n=0; \
	for dir in $$($(GO) list -f '{{.Dir}}' ./...); do \
	  for name in $$(grep -hoE '^func Fuzz[A-Za-z0-9_]*\(' $$dir/*_test.go 2>/dev/null | sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(/\1/' | sort -u); do \
	    pkg=./$${dir#$(CURDIR)/}; n=$$((n+1)); \
	    echo "== $$pkg $$name for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done; \
	echo "make fuzz: $$n targets, $(FUZZTIME) each, in $$(( $$(date +%s) - start )) s"
