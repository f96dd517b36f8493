# vpnbot — make help lists the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

# Every module of the workspace: go test ./... does not span a go.work.
MODULES := $(shell go list -m -f '{{.Dir}}' 2>/dev/null)
SERVICES := gateway bot-handler migrate dlq devstack sender payment-watcher activation reminders trial-notifier expiry-cleanup keyserver webapp sandbox-server
GO_TEST_FLAGS ?= -count=1 -race -timeout 15m
# make test runs services/devstack, which mostly waits on the processes of
# make run, beside the other modules, and e2e alone at the end: the two
# whole-system modules never share the machine or the database's
# connections.
BESIDE := $(CURDIR)/services/devstack
LAST := $(CURDIR)/e2e

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: run
# Built, then exec'd rather than `go run`: Ctrl-C and kill reach the devstack
# itself, which stops every service and exits only once they are gone.
run: ## run the whole system locally (embedded NATS, PostgreSQL, every service, sandbox or real Telegram)
	@mkdir -p .data/bin
	go build -o .data/bin/devstack ./services/devstack
	@exec .data/bin/devstack

.PHONY: logs
# make run's log folder: DEVSTACK_DIR/logs, as the devstack writes it.
LOG_DIR = $(or $(DEVSTACK_DIR),.data)/logs
LOG_FILES = $(LOG_DIR)/$(if $(SERVICE),$(SERVICE)*,*).log
logs: ## follow make run's whole logs, one file per service in .data/logs (SERVICE=activation: that service's alone)
	@ls $(LOG_FILES) >/dev/null 2>&1 || { echo "no logs at $(LOG_FILES): start the system with make run, which writes every process's log to $(LOG_DIR)/<process>.log"; exit 1; }
	@echo "following $(LOG_FILES) (Ctrl-C stops); the addresses make run printed are in $(LOG_DIR)/welcome.txt"
	@tail -n 10 -F $(LOG_FILES)

.PHONY: test
test: ## every module's tests against real PostgreSQL and embedded NATS, plus standalone builds and lint
	@scripts/ensure-postgres.sh
	@scripts/ensure-chromium.sh
	@$(MAKE) --no-print-directory lint standalone check-budget check-alerts
	@set -e; log=$$(mktemp); \
	(cd services/devstack; rc=0; go test $(GO_TEST_FLAGS) ./... >$$log 2>&1 || rc=$$?; echo $$rc >$$log.rc) & \
	for m in $(filter-out $(BESIDE) $(LAST),$(MODULES)); do \
		echo "== go test $${m#$(CURDIR)/}"; \
		(cd $$m && go test $(GO_TEST_FLAGS) ./...) || { wait; cat $$log; rm -f $$log $$log.rc; exit 1; }; \
	done; \
	wait; echo "== go test services/devstack (ran beside the modules above)"; cat $$log; \
	rc=$$(cat $$log.rc); rm -f $$log $$log.rc; [ "$$rc" = 0 ]; \
	echo "== go test e2e"; cd e2e && go test $(GO_TEST_FLAGS) ./...

.PHONY: check-budget
check-budget: ## check the PostgreSQL connection budget (deploy/budget.yaml) against max_connections, the roles, deploy/k8s and docker-compose.yml (BUDGET_DATABASE=url: that server's roles too)
	@cd tools && go run ./cmd/check-budget -root .. $(if $(BUDGET_DATABASE),-database '$(BUDGET_DATABASE)')

.PHONY: check-alerts
check-alerts: ## validate the alert rules and their unit tests with promtool
	@scripts/ensure-promtool.sh
	promtool check rules deploy/prometheus/rules/*.yml
	promtool test rules deploy/prometheus/rules/tests/*.yml

.PHONY: standalone
standalone: ## build each module alone (GOWORK=off), as its image would
	@set -e; for m in $(MODULES); do (cd $$m && GOWORK=off go build ./...); done

.PHONY: lint
lint: ## gofmt and go vet over every module
	@unformatted=$$(gofmt -l $(MODULES)); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	@set -e; for m in $(MODULES); do (cd $$m && go vet ./...); done

.PHONY: build
# The build each binary reports (SERVICE_START, vpnbot_build_info): pkg/buildinfo.
VERSION ?= $(shell git describe --always --dirty 2>/dev/null)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
BUILDINFO = github.com/vpnbot/vpnbot/pkg/buildinfo
LDFLAGS = -X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).revision=$(REVISION)
build: ## build every service binary into bin/, stamped with VERSION (git describe) and REVISION (the commit)
	@mkdir -p bin
	@set -e; for s in $(SERVICES); do (cd services/$$s && go build -ldflags "$(LDFLAGS)" -o ../../bin/$$s .); done

.PHONY: bench
bench: ## gateway vs bare publish, pipeline latency, tracing's cost from publish to handler (off, and on at 100 %), DB round trips per update, the cabinet's /api/me next to bare net/http, sender rate and a 20,000-message broadcast (paid and free), workers' query plans, the ledger under 1,000 concurrent purchases and over 1,000,000 rows, panel throughput and reconciliation of 100,000 periods
	@scripts/ensure-postgres.sh
	cd e2e && go run ./cmd/bench
	cd pkg && go test -run '^$$' -bench Pipeline -benchtime 5000x ./bus/
	cd services/bot-handler && go test -run '^$$' -bench . -benchtime 200x ./internal/updates/
	cd services/sender && go test -run '^$$' -bench SustainedRate -benchtime 1500x ./internal/sender/
	cd services/sender && go test -run '^$$' -bench 'Broadcast/paid' -benchtime 20000x ./internal/sender/
	cd services/sender && go test -run '^$$' -bench 'Broadcast/free' -benchtime 20000x -timeout 30m ./internal/sender/
	cd services/webapp && go test -run '^$$' -bench SubscriptionAPI -benchtime 20000x ./internal/webapp/
	cd pkg && go test -run '^$$' -bench SelectionQueries -benchtime 1x ./shop/
	cd pkg && go test -run '^$$' -bench Ledger -benchtime 1x ./shop/
	cd services/activation && go test -run '^$$' -bench Throughput -benchtime 1x ./internal/activation/
	cd services/expiry-cleanup && go test -run '^$$' -bench Throughput -benchtime 1x ./internal/cleanup/
	cd services/expiry-cleanup && go test -run '^$$' -bench Reconcile -benchtime 1x ./internal/cleanup/
	cd services/trial-notifier && go test -run '^$$' -bench SelectionQueries -benchtime 1x ./internal/store/
	cd services/expiry-cleanup && go test -run '^$$' -bench Prune -benchtime 1x ./internal/prune/
	cd services/expiry-cleanup && go test -run '^$$' -bench Overdue -benchtime 1x ./internal/store/

.PHONY: soak
SOAK_DURATION ?= 10m
# Not part of make test: it runs for SOAK_DURATION and uses the whole machine.
soak: ## the whole system under simulated users and a fault schedule for SOAK_DURATION (10m), then every invariant checked; SOAK_SEED repeats a schedule
	@scripts/ensure-postgres.sh
	cd e2e && SOAK_DURATION=$(SOAK_DURATION) go run ./cmd/soak

.PHONY: generate
generate: ## regenerate generated code (go generate in every module)
	@set -e; for m in $(MODULES); do (cd $$m && go generate ./...); done

.PHONY: fuzz
fuzz: ## run the update-validity fuzz targets (the shared definition, the webhook) for a short while
	cd pkg && go test -run '^$$' -fuzz FuzzDecodeUpdate -fuzztime 30s ./telegram
	cd services/gateway && go test -run '^$$' -fuzz FuzzWebhook -fuzztime 30s ./internal/...

.PHONY: clean
# The devstack removes .data/ and drops the database make run created at
# DATABASE_URL (never one it found there); if that server does not answer it
# says so, keeps the record in .data/, and fails, so a later clean retries.
clean: ## remove binaries, local state (.data/) and the database make run created
	rm -rf bin artifacts e2e/artifacts
	go run ./services/devstack clean
