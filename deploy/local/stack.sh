#!/usr/bin/env bash
# The local stack: PostgreSQL, Kafka (KRaft) and ClickHouse, natively, without Docker.
# Usage: deploy/local/stack.sh up|down|status
# State lives in .local/ (ignored by git), logs in .local/log/.
source "$(dirname "$0")/lib.sh"
here="$ORDO_ROOT/deploy/local"

case "${1:-}" in
  up)
    start=$(date +%s)
    "$here/postgres.sh" up
    "$here/kafka.sh" up
    "$here/clickhouse.sh" up
    say "stack ready in $(( $(date +%s) - start )) s: postgres 127.0.0.1:5432, kafka 127.0.0.1:9092, clickhouse 127.0.0.1:9000 (logs: $ORDO_LOG)"
    ;;
  down)
    # Stop in reverse order; each script ignores what it did not start.
    "$here/clickhouse.sh" down
    "$here/kafka.sh" down
    "$here/postgres.sh" down
    ;;
  status)
    "$here/postgres.sh" status
    "$here/kafka.sh" status
    "$here/clickhouse.sh" status
    ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
