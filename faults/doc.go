// Package faults is Ordo's fault suite (issue 9): every role runs as its own `ordo`
// process against real Postgres, Kafka and ClickHouse while a driver places orders,
// cancels some and restocks products through the HTTP API; one fault after another is
// injected (kill -9 of each role, a Kafka broker restart, a Postgres crash, ClickHouse
// stopped for 30 s) and after each the suite checks that nothing acknowledged was lost,
// nothing happened twice, every order ended within two minutes, and the read models,
// ClickHouse, the payment provider's ledger and the stock agree with the event store.
//
// The suite is behind the build tag "faults", so `go test ./...` skips it:
//
//	make test-faults      # the full suite against the local stack (it restarts the services)
//	make test-faults-ci   # the bounded variant (-short): less traffic per fault
//
// It reads the service addresses from ORDO_POSTGRES_URL, ORDO_KAFKA_BROKERS and
// ORDO_CLICKHOUSE_ADDR (the local stack's by default) and breaks the services through
// faults/stack.sh (ORDO_FAULTS_STACK=local, the default, or private). While other tests
// use the local stack, develop against a private one:
//
//	faults/stack.sh private up && eval "$(faults/stack.sh private env)"
//	go test -tags faults -v -run TestFaults ./faults/
//
// docs/RELIABILITY.md has the table of this machine and what each column means.
package faults
