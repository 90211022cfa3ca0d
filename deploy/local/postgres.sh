#!/usr/bin/env bash
# PostgreSQL from Debian's packages with role and database "ordo" on 127.0.0.1:5432.
# Reuses a server that already listens there; otherwise runs its own cluster under
# .local/postgres. Usage: deploy/local/postgres.sh up|down|status|url
source "$(dirname "$0")/lib.sh"

PG_DIR="$ORDO_LOCAL/postgres"
PG_DATA="$PG_DIR/data"
PG_RUN="$PG_DIR/run"
PG_LOG="$ORDO_LOG/postgres.log"
PG_URL="${ORDO_POSTGRES_URL:-postgres://ordo:ordo@127.0.0.1:5432/ordo?sslmode=disable}"

pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
}

# as_pg CMD...: run CMD as the cluster owner (the "postgres" user when we are root,
# because the server refuses to run as root; ourselves otherwise).
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_role_and_db() { # ensure_role_and_db PSQL-ARGS...: create role and db "ordo" when missing
  local log="$ORDO_LOG/postgres-setup.log"
  as_pg psql "$@" -v ON_ERROR_STOP=1 -q -d postgres >>"$log" 2>&1 <<'SQL' || fail "postgres: create role and database" "$log" "could not create role/database ordo"
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ordo') THEN
    CREATE ROLE ordo LOGIN PASSWORD 'ordo' CREATEDB;
  END IF;
END $$;
SELECT 'CREATE DATABASE ordo OWNER ordo' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'ordo')\gexec
SQL
}

up() {
  if pid_alive "$PG_DATA/postmaster.pid" 2>/dev/null && [ -f "$PG_DIR/ours" ]; then
    probe postgres --url "$PG_URL" --wait 30s >/dev/null || fail "postgres: readiness" "$PG_LOG" "running but $PG_URL does not answer SELECT 1"
    say "postgres: already running on 127.0.0.1:5432 ($PG_URL)"
    return
  fi
  if port_open 127.0.0.1 5432; then
    # A server that we did not start: use it when ordo can log in, or when we can
    # create the role through the local superuser socket.
    if ! probe postgres --url "$PG_URL" --wait 2s >/dev/null 2>&1; then
      ensure_role_and_db -h /var/run/postgresql
    fi
    probe postgres --url "$PG_URL" --wait 10s >/dev/null || fail "postgres: reuse 127.0.0.1:5432" "" "a server listens there, but $PG_URL cannot log in; create role and database ordo (password ordo) or set ORDO_POSTGRES_URL"
    say "postgres: reusing the server on 127.0.0.1:5432 ($PG_URL)"
    return
  fi

  local bin; bin="$(pg_bindir)"
  if [ -z "$bin" ]; then
    apt_install "postgres: install" "$ORDO_LOG/postgres-install.log" postgresql
    bin="$(pg_bindir)"
    [ -n "$bin" ] || fail "postgres: install" "$ORDO_LOG/postgres-install.log" "no initdb under /usr/lib/postgresql/*/bin after installing postgresql"
  fi
  local version; version="$("$bin/postgres" --version | awk '{print $3}' | cut -d. -f1)"
  [ "$version" -ge 15 ] || fail "postgres: version" "" "PostgreSQL $version found in $bin; Ordo needs 15 or later"

  mkdir -p "$PG_DIR" "$PG_RUN"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$PG_DIR" "$PG_RUN"; touch "$PG_LOG"; chown postgres: "$PG_LOG"; fi
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    say "postgres: creating a cluster in $PG_DATA"
    as_pg "$bin/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >>"$ORDO_LOG/postgres-initdb.log" 2>&1 \
      || fail "postgres: initdb" "$ORDO_LOG/postgres-initdb.log" "initdb failed"
    cat >>"$PG_DATA/postgresql.conf" <<CONF
# --- Ordo local development settings (deploy/local/postgres.sh) ---
listen_addresses = '127.0.0.1'
port = 5432
unix_socket_directories = '$PG_RUN'
max_connections = 300
shared_buffers = 256MB
# Local stack only: a crashed postgres process loses nothing (the OS keeps its writes and
# commits stay synchronous), but an OS crash could. Production keeps fsync on.
fsync = off
full_page_writes = off
synchronous_commit = on
wal_level = logical
log_min_duration_statement = -1
CONF
  fi
  touch "$PG_DIR/ours"
  say "postgres: starting $version (log: $PG_LOG)"
  as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >>"$ORDO_LOG/postgres-ctl.log" 2>&1 \
    || fail "postgres: start" "$PG_LOG" "pg_ctl start failed"
  ensure_role_and_db -h "$PG_RUN"
  probe postgres --url "$PG_URL" --wait 30s >/dev/null || fail "postgres: readiness" "$PG_LOG" "$PG_URL does not answer SELECT 1"
  say "postgres: ready on 127.0.0.1:5432 ($PG_URL)"
}

down() {
  if [ -f "$PG_DIR/ours" ] && pid_alive "$PG_DATA/postmaster.pid"; then
    local bin; bin="$(pg_bindir)"
    as_pg "$bin/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >>"$ORDO_LOG/postgres-ctl.log" 2>&1 \
      || fail "postgres: stop" "$ORDO_LOG/postgres-ctl.log" "pg_ctl stop failed"
    say "postgres: stopped"
  else
    say "postgres: not running (or not started by ordo)"
  fi
}

# url: the URL for Ordo on this machine. ORDO_POSTGRES_URL when set; else our own
# cluster's Unix socket while it runs (a round trip skips the loopback TCP stack: about
# 10 % more orders/s in `ordo bench e2e` on two cores, docs/PERFORMANCE.md); else TCP.
url() {
  if [ -n "${ORDO_POSTGRES_URL:-}" ]; then echo "$ORDO_POSTGRES_URL"
  elif [ -f "$PG_DIR/ours" ] && pid_alive "$PG_DATA/postmaster.pid" && [ -S "$PG_RUN/.s.PGSQL.5432" ]; then
    echo "postgres://ordo:ordo@localhost/ordo?host=${PG_RUN// /%20}&sslmode=disable"
  else echo "$PG_URL"; fi
}

status() {
  if [ -f "$PG_DIR/ours" ] && pid_alive "$PG_DATA/postmaster.pid"; then echo "postgres    running  127.0.0.1:5432  $PG_URL"
  elif port_open 127.0.0.1 5432; then echo "postgres    external 127.0.0.1:5432 (not started by ordo)"
  else echo "postgres    stopped"; fi
}

case "${1:-}" in
  up) up ;; down) down ;; status) status ;; url) url ;;
  *) echo "usage: $0 up|down|status|url" >&2; exit 2 ;;
esac
