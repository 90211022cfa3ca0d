#!/usr/bin/env bash
# ClickHouse from Debian's clickhouse-server package, run natively with its state under
# .local/clickhouse, listening on 127.0.0.1:9000 (native) and 127.0.0.1:8123 (HTTP).
# Usage: deploy/local/clickhouse.sh up|down|status
source "$(dirname "$0")/lib.sh"

CH_DIR="$ORDO_LOCAL/clickhouse"
CH_PID="$CH_DIR/clickhouse.pid"
CH_LOG="$ORDO_LOG/clickhouse.log"
CH_OUT="$ORDO_LOG/clickhouse.out.log"
CH_ADDR="${ORDO_CLICKHOUSE_ADDR:-127.0.0.1:9000}"

up() {
  if pid_alive "$CH_PID"; then
    probe clickhouse --addr "$CH_ADDR" --wait 30s >/dev/null \
      || fail "clickhouse: readiness" "$CH_LOG" "running (pid $(cat "$CH_PID")) but not answering SELECT 1"
    say "clickhouse: already running on $CH_ADDR (native), 127.0.0.1:8123 (http)"
    return
  fi
  if port_open 127.0.0.1 9000; then
    # Someone else's server: reuse it when it is ClickHouse, otherwise refuse.
    probe clickhouse --addr "$CH_ADDR" --wait 5s >/dev/null \
      || fail "clickhouse: start" "" "127.0.0.1:9000 is taken by something that does not answer as ClickHouse"
    say "clickhouse: reusing the server already on $CH_ADDR"
    return
  fi
  apt_install "clickhouse: install" "$ORDO_LOG/clickhouse-install.log" clickhouse-server clickhouse-client
  mkdir -p "$CH_DIR/data" "$CH_DIR/tmp" "$CH_DIR/user_files" "$CH_DIR/format_schemas"
  sed -e "s#@LOCAL@#$ORDO_LOCAL#g" -e "s#@LOG@#$ORDO_LOG#g" \
    "$ORDO_ROOT/deploy/local/clickhouse/config.xml.in" >"$CH_DIR/config.xml"
  cp "$ORDO_ROOT/deploy/local/clickhouse/users.xml" "$CH_DIR/users.xml"
  say "clickhouse: starting (log: $CH_LOG)"
  # exec: $! is then clickhouse-server itself (setsid does not fork in a background job),
  # not a shell waiting for it, so `down` stops the server and not only that shell.
  (cd "$CH_DIR" && exec setsid nohup clickhouse-server --config-file="$CH_DIR/config.xml" >>"$CH_OUT" 2>&1 </dev/null) &
  echo $! >"$CH_PID"
  sleep 0.5
  # Wait for a real query answer; fail fast when the process has died.
  for _ in $(seq 1 60); do
    pid_alive "$CH_PID" || fail "clickhouse: start" "$ORDO_LOG/clickhouse.err.log" "clickhouse-server exited (see also $CH_OUT)"
    if probe clickhouse --addr "$CH_ADDR" --wait 1s >/dev/null 2>&1; then
      say "clickhouse: ready on $CH_ADDR (native), 127.0.0.1:8123 (http)"
      return
    fi
  done
  fail "clickhouse: readiness" "$ORDO_LOG/clickhouse.err.log" "no answer to SELECT 1 on $CH_ADDR after 60 s"
}

down() {
  if ! pid_alive "$CH_PID"; then rm -f "$CH_PID"; say "clickhouse: not running"; return; fi
  local pid; pid="$(cat "$CH_PID")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$CH_PID"
  say "clickhouse: stopped"
}

status() {
  if pid_alive "$CH_PID"; then echo "clickhouse  running  $CH_ADDR (native), 127.0.0.1:8123 (http)  pid $(cat "$CH_PID")"
  elif port_open 127.0.0.1 9000; then echo "clickhouse  external $CH_ADDR (not started by ordo)"
  else echo "clickhouse  stopped"; fi
}

case "${1:-}" in
  up) up ;; down) down ;; status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
