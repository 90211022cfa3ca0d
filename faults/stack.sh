#!/usr/bin/env bash
# faults/stack.sh STACK COMMAND: start, stop, crash and restart the services the fault
# suite (faults/) breaks on purpose.
#
# STACK is one of
#   local    the normal local stack of `make up` (deploy/local, .local/): Postgres on 5432,
#            Kafka on 9092, ClickHouse on 9000. Only `make test-faults` should break it,
#            when nothing else uses it.
#   private  a second stack of its own, for developing the fault suite while other tests
#            use the local one: Postgres on 25432, Kafka on 29092 (controller 29093),
#            ClickHouse on 29000 (HTTP 28123), state in $ORDO_FAULTS_STACK_DIR (default
#            /tmp/ordo-faults-stack), Kafka jars borrowed from .local/kafka/libs.
#
# COMMAND:
#   up | down | status      the whole private stack (local: use `make up` / `make down`)
#   env                     print the ORDO_* settings that point the suite at STACK
#   postgres-crash          pg_ctl stop -m immediate (no shutdown checkpoint: a crash)
#   postgres-start          pg_ctl start, wait for SELECT 1
#   kafka-stop              SIGTERM, clean shutdown (local: deploy/local/kafka.sh down)
#   kafka-kill              SIGKILL the broker
#   kafka-start             start, wait for a Metadata response
#   clickhouse-stop | clickhouse-start
#
# Example (private): faults/stack.sh private up && eval "$(faults/stack.sh private env)"
#                    go test -tags faults ./faults/ -v
set -euo pipefail

STACK="${1:-}"; CMD="${2:-}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
MAIN_LOCAL="${ORDO_LOCAL:-$ROOT/.local}"

case "$STACK" in
  local)
    export ORDO_LOCAL="$MAIN_LOCAL"
    PG_PORT=5432; KAFKA_PORT=9092; CONTROLLER_PORT=9093; CH_PORT=9000; CH_HTTP=8123; CH_INTER=9009
    PG_DATA="$ORDO_LOCAL/postgres/data"; PG_LOG="$ORDO_LOCAL/log/postgres.log"
    ;;
  private)
    DIR="${ORDO_FAULTS_STACK_DIR:-/tmp/ordo-faults-stack}"
    # Below 32768, outside Linux's ephemeral range (32768-60999): a server listening in
    # that range can find its port taken by some client's outgoing connection (CI once
    # failed so, "Address already in use: 127.0.0.1:59000").
    export ORDO_LOCAL="$DIR"
    PG_PORT=25432; KAFKA_PORT=29092; CONTROLLER_PORT=29093; CH_PORT=29000; CH_HTTP=28123; CH_INTER=29009
    PG_DATA="$DIR/postgres/data"; PG_LOG="$DIR/log/postgres.log"
    ;;
  *) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
# shellcheck source=../deploy/local/lib.sh
source "$ROOT/deploy/local/lib.sh"

PG_URL="postgres://ordo:ordo@127.0.0.1:$PG_PORT/ordo?sslmode=disable"
KAFKA_ADDR="127.0.0.1:$KAFKA_PORT"
CH_ADDR="127.0.0.1:$CH_PORT"

pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return; }
  done
  fail "postgres" "" "no pg_ctl under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# require_free NAME PORT...: before a private server starts, nothing of another may listen
# on its ports (a private stack of another checkout, say). Say who does, rather than let
# the server fail later with "Address already in use" in its own log.
require_free() {
  [ "$STACK" = private ] || return 0
  local name="$1" port; shift
  for port in "$@"; do
    port_open 127.0.0.1 "$port" || continue
    fail "$name" "" "127.0.0.1:$port is already taken, not by this stack ($ORDO_LOCAL): $(ss -Hltnp "sport = :$port" 2>/dev/null | awk '{print $NF}' | head -n1)"
  done
}

# ---------------------------------------------------------------- postgres
postgres_init() { # private only: a cluster of its own
  [ -f "$PG_DATA/PG_VERSION" ] && return 0
  local bin; bin="$(pg_bin)"
  mkdir -p "$DIR/postgres/run"
  if [ "$(id -u)" = 0 ]; then chown -R postgres: "$DIR/postgres"; touch "$PG_LOG"; chown postgres: "$PG_LOG"; fi
  say "private postgres: initdb $PG_DATA"
  as_pg "$bin/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
    >>"$ORDO_LOG/postgres-initdb.log" 2>&1 || fail "private postgres: initdb" "$ORDO_LOG/postgres-initdb.log" "initdb failed"
  cat >>"$PG_DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$DIR/postgres/run'
max_connections = 300
shared_buffers = 128MB
fsync = off
full_page_writes = off
synchronous_commit = on
CONF
}

postgres_role() { # private only: role and database "ordo", idempotent
  as_pg psql -h "$DIR/postgres/run" -p "$PG_PORT" -v ON_ERROR_STOP=1 -q -d postgres >>"$ORDO_LOG/postgres-setup.log" 2>&1 <<'SQL' \
    || fail "private postgres: role and database" "$ORDO_LOG/postgres-setup.log" "could not create role/database ordo"
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ordo') THEN CREATE ROLE ordo LOGIN PASSWORD 'ordo' CREATEDB; END IF;
END $$;
SELECT 'CREATE DATABASE ordo OWNER ordo' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'ordo')\gexec
SQL
}

postgres_running() { [ -f "$PG_DATA/postmaster.pid" ] && kill -0 "$(head -n1 "$PG_DATA/postmaster.pid")" 2>/dev/null; }

postgres_start() {
  postgres_server
  probe postgres --url "$PG_URL" --wait 60s >/dev/null || fail "postgres: readiness" "$PG_LOG" "$PG_URL does not answer SELECT 1"
}

postgres_server() {
  if ! postgres_running; then
    require_free "postgres" "$PG_PORT"
    local bin; bin="$(pg_bin)"
    # setsid: the server must not share the caller's process group (a Ctrl-C of the
    # test would reach it).
    as_pg setsid "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 120 start >>"$ORDO_LOG/postgres-ctl.log" 2>&1 \
      || fail "postgres: start" "$PG_LOG" "pg_ctl start failed"
  fi
}

postgres_crash() {
  # A crash of nothing would let the suite pass without the fault: fail instead (the
  # local stack may be reusing a server it did not start, whose data dir is elsewhere).
  postgres_running || fail "postgres: crash" "" "no server of $PG_DATA runs on $PG_PORT (a server this stack did not start cannot be crashed)"
  as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m immediate -w -t 60 stop >>"$ORDO_LOG/postgres-ctl.log" 2>&1 \
    || fail "postgres: stop -m immediate" "$ORDO_LOG/postgres-ctl.log" "pg_ctl stop failed"
}

postgres_stop() { # clean
  postgres_running || return 0
  as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >>"$ORDO_LOG/postgres-ctl.log" 2>&1 || true
}

# ---------------------------------------------------------------- kafka
KDIR="$ORDO_LOCAL/kafka"
KPID="$KDIR/kafka.pid"
KLOG="$ORDO_LOG/kafka.log"
LIBS="${ORDO_FAULTS_KAFKA_LIBS:-$MAIN_LOCAL/kafka/libs}"

kafka_pid() { [ -f "$KPID" ] && kill -0 "$(cat "$KPID")" 2>/dev/null && cat "$KPID"; }

kafka_private_start() {
  if [ ! -f "$LIBS/kafka-clients-4.4.0.jar" ] && [ -z "${ORDO_FAULTS_KAFKA_LIBS:-}" ]; then
    # `make up` reused a broker it did not start, so it fetched no jars: fetch them now.
    ORDO_LOCAL="$MAIN_LOCAL" "$ROOT/deploy/local/kafka.sh" libs
  fi
  [ -f "$LIBS/kafka-clients-4.4.0.jar" ] || fail "private kafka" "" "no Kafka jars in $LIBS: run \`make up\` once (it fetches them)"
  mkdir -p "$KDIR"
  sed -e "s|@DATA_DIR@|$KDIR/data|g" -e "s|127.0.0.1:9092|$KAFKA_ADDR|g" -e "s|127.0.0.1:9093|127.0.0.1:$CONTROLLER_PORT|g" \
    "$ROOT/deploy/local/kafka/server.properties" >"$KDIR/server.properties"
  local log4j="-Dlog4j2.configurationFile=$ROOT/deploy/local/kafka/log4j2.yaml"
  if [ ! -f "$KDIR/cluster-id" ]; then
    rm -rf "$KDIR/data"
    local id
    id="$(java -Xmx256m "$log4j" -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>>"$KLOG" | tail -n1)"
    java -Xmx256m "$log4j" -cp "$LIBS/*" kafka.tools.StorageTool format -t "$id" -c "$KDIR/server.properties" --standalone >>"$KLOG" 2>&1 \
      || fail "private kafka: format" "$KLOG" "StorageTool format failed"
    echo "$id" >"$KDIR/cluster-id"
  fi
  if ! kafka_pid >/dev/null; then
    require_free "private kafka" "$KAFKA_PORT" "$CONTROLLER_PORT"
    echo "=== $(date -Is) start" >>"$KLOG"
    setsid nohup java -Xms256m -Xmx640m -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
      -XX:+ExitOnOutOfMemoryError "$log4j" "-Dkafka.logs.dir=$ORDO_LOG" -cp "$LIBS/*" kafka.Kafka "$KDIR/server.properties" \
      </dev/null >>"$KLOG" 2>&1 &
    echo $! >"$KPID"
  fi
  probe kafka --addr "$KAFKA_ADDR" --wait 120s >/dev/null || fail "private kafka: readiness" "$KLOG" "no Metadata response from $KAFKA_ADDR"
}

kafka_private_stop() { # stop SIGNAL
  local pid; pid="$(kafka_pid)" || return 0
  kill "-$1" "$pid" 2>/dev/null || true
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$KPID"
}

kafka_local_kill() {
  local pidfile="$MAIN_LOCAL/kafka/kafka.pid" pid
  [ -f "$pidfile" ] && pid="$(cat "$pidfile")" && kill -KILL "$pid" 2>/dev/null || true
  "$ROOT/deploy/local/kafka.sh" down >/dev/null 2>&1 || true # forgets the pid file
}

# ---------------------------------------------------------------- clickhouse
CH_DIR="$ORDO_LOCAL/clickhouse"
CH_PID="$CH_DIR/clickhouse.pid"

clickhouse_private_start() {
  if ! { [ -f "$CH_PID" ] && kill -0 "$(cat "$CH_PID")" 2>/dev/null; }; then
    require_free "private clickhouse" "$CH_PORT" "$CH_HTTP" "$CH_INTER"
    mkdir -p "$CH_DIR/data" "$CH_DIR/tmp" "$CH_DIR/user_files" "$CH_DIR/format_schemas"
    sed -e "s#@LOCAL@#$ORDO_LOCAL#g" -e "s#@LOG@#$ORDO_LOG#g" \
      -e "s#<http_port>8123<#<http_port>$CH_HTTP<#" -e "s#<tcp_port>9000<#<tcp_port>$CH_PORT<#" \
      -e "s#<interserver_http_port>9009<#<interserver_http_port>$CH_INTER<#" \
      "$ROOT/deploy/local/clickhouse/config.xml.in" >"$CH_DIR/config.xml"
    cp "$ROOT/deploy/local/clickhouse/users.xml" "$CH_DIR/users.xml"
    # exec: the pid recorded is clickhouse-server's own (setsid does not fork here).
    (cd "$CH_DIR" && exec setsid nohup clickhouse-server --config-file="$CH_DIR/config.xml" >>"$ORDO_LOG/clickhouse.out.log" 2>&1 </dev/null) &
    echo $! >"$CH_PID"
  fi
  for _ in $(seq 1 120); do
    probe clickhouse --addr "$CH_ADDR" --wait 1s >/dev/null 2>&1 && return 0
    kill -0 "$(cat "$CH_PID")" 2>/dev/null || fail "private clickhouse: start" "$ORDO_LOG/clickhouse.err.log" "clickhouse-server exited"
  done
  fail "private clickhouse: readiness" "$ORDO_LOG/clickhouse.err.log" "no answer on $CH_ADDR"
}

clickhouse_private_stop() {
  [ -f "$CH_PID" ] || return 0
  local pid; pid="$(cat "$CH_PID")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$CH_PID"
}

# clickhouse_local_stop: the local stack's server, found by its config file. (Before a
# fix in deploy/local/clickhouse.sh its pid file named the shell that started the server,
# so `clickhouse.sh down` stopped that shell and left ClickHouse running.)
clickhouse_local_stop() {
  local conf="$MAIN_LOCAL/clickhouse/config.xml" f pid cmd pids=()
  for f in /proc/[0-9]*/cmdline; do
    cmd="$(tr '\0' ' ' <"$f" 2>/dev/null)" || continue
    [[ "$cmd" == clickhouse-server*"--config-file=$conf"* ]] && pids+=("$(basename "$(dirname "$f")")")
  done
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  "$ROOT/deploy/local/clickhouse.sh" down >/dev/null
}

# require_down NAME PORT: after a stop, nothing may answer on PORT. A stop that found
# nothing of its own to stop (deploy/local/kafka.sh reusing a broker it did not start,
# say) returns 0, and the suite would then measure a fault that never happened.
require_down() {
  ! port_open 127.0.0.1 "$2" || fail "$1" "" "127.0.0.1:$2 still accepts connections after the stop: a server this stack did not start?"
}

# ---------------------------------------------------------------- dispatch
case "$STACK:$CMD" in
  private:up)
    postgres_init; postgres_server; postgres_role; postgres_start; kafka_private_start; clickhouse_private_start
    say "private fault stack up: postgres $PG_URL, kafka $KAFKA_ADDR, clickhouse $CH_ADDR (state $ORDO_LOCAL)" ;;
  private:down) clickhouse_private_stop; kafka_private_stop TERM; postgres_stop; say "private fault stack stopped" ;;
  local:up | local:down) "$ROOT/deploy/local/stack.sh" "$CMD" ;;
  *:status)
    for p in "$PG_PORT postgres" "$KAFKA_PORT kafka" "$CH_PORT clickhouse"; do
      set -- $p; if port_open 127.0.0.1 "$1"; then echo "$2 127.0.0.1:$1 up"; else echo "$2 127.0.0.1:$1 down"; fi
    done ;;
  *:env)
    printf "export ORDO_FAULTS_STACK=%s\n" "$STACK"
    printf "export ORDO_POSTGRES_URL='%s'\n" "$PG_URL"
    printf "export ORDO_KAFKA_BROKERS=%s\n" "$KAFKA_ADDR"
    printf "export ORDO_CLICKHOUSE_ADDR=%s\n" "$CH_ADDR" ;;
  *:postgres-crash) postgres_crash; require_down "postgres: crash" "$PG_PORT" ;;
  *:postgres-start) postgres_start ;;
  private:kafka-stop) kafka_private_stop TERM; require_down "kafka: stop" "$KAFKA_PORT" ;;
  private:kafka-kill) kafka_private_stop KILL; require_down "kafka: kill" "$KAFKA_PORT" ;;
  private:kafka-start) kafka_private_start ;;
  local:kafka-stop) "$ROOT/deploy/local/kafka.sh" down; require_down "kafka: stop" "$KAFKA_PORT" ;;
  local:kafka-kill) kafka_local_kill; require_down "kafka: kill" "$KAFKA_PORT" ;;
  local:kafka-start) "$ROOT/deploy/local/kafka.sh" up ;;
  private:clickhouse-stop) clickhouse_private_stop; require_down "clickhouse: stop" "$CH_PORT" ;;
  private:clickhouse-start) clickhouse_private_start ;;
  local:clickhouse-stop) clickhouse_local_stop; require_down "clickhouse: stop" "$CH_PORT" ;;
  local:clickhouse-start) "$ROOT/deploy/local/clickhouse.sh" up ;;
  *) echo "unknown command: $STACK $CMD (see $0 without arguments)" >&2; exit 2 ;;
esac
