#!/usr/bin/env bash
# deploy/local/kafka.sh up|down|status
#
# Runs Apache Kafka natively (no Docker) for the local stack: one KRaft node that is both
# broker and controller, from Maven Central jars, on the machine's Java 17+.
#
#   up      fetch the jars (once), format the storage (once), start, wait for a Metadata
#           response. Does nothing but report when Kafka is already running.
#   down    SIGTERM, wait up to 30 s for a clean shutdown, then SIGKILL.
#   status  print running/stopped and the address (exit status 0 either way).
#
# State: $ORDO_LOCAL/kafka/{libs,data,server.properties,kafka.pid,cluster-id}
# Logs:  $ORDO_LOG/kafka.log (broker, storage format), $ORDO_LOG/kafka-fetch.log (Maven)
# Reset: make down && rm -rf .local/kafka
#
# Environment: ORDO_JAVA (default: java on PATH), ORDO_MVN (default: mvn on PATH).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_VERSION=4.4.0
KAFKA_HOST=127.0.0.1
KAFKA_PORT=9092
CONTROLLER_PORT=9093
KAFKA_ADDR="$KAFKA_HOST:$KAFKA_PORT"

SRC="$ORDO_ROOT/deploy/local/kafka"       # checked-in pom.xml, server.properties, log4j2.yaml
KDIR="$ORDO_LOCAL/kafka"                   # generated state
LIBS="$KDIR/libs"
DATA="$KDIR/data"
PROPS="$KDIR/server.properties"
PIDFILE="$KDIR/kafka.pid"
FORMATTED="$KDIR/cluster-id"               # marker: storage formatted, holds the cluster id
LOG="$ORDO_LOG/kafka.log"
FETCH_LOG="$ORDO_LOG/kafka-fetch.log"

JAVA="${ORDO_JAVA:-java}"
MVN="${ORDO_MVN:-mvn}"
RESET_HINT="to reset Kafka (deletes all its local data): make down && rm -rf ${KDIR#"$ORDO_ROOT/"}"

JVM_OPTS=(
  -Xms256m -Xmx768m
  # The flags bin/kafka-run-class.sh uses, minus GC logging (off here) and JMX.
  -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true
  -XX:+ExitOnOutOfMemoryError
  "-Dlog4j2.configurationFile=$SRC/log4j2.yaml"
  "-Dkafka.logs.dir=$ORDO_LOG"
)

mkdir -p "$KDIR"

# ours PID: true when PID is the broker this script started (guards against pid reuse).
ours() {
  local cmd
  cmd="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
  [[ "$cmd" == *kafka.Kafka*"$PROPS"* ]]
}

# running: true when the pid file names our live broker; removes a stale pid file.
running() {
  if pid_alive "$PIDFILE" && ours "$(cat "$PIDFILE")"; then
    return 0
  fi
  rm -f "$PIDFILE"
  return 1
}

# who_listens PORT: a short description of the process listening on PORT, if any.
who_listens() {
  ss -Hltnp "sport = :$1" 2>/dev/null \
    | sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/(\1, pid \2)/p' | head -n1 || true
}

check_java() {
  command -v "$JAVA" >/dev/null 2>&1 || fail "check java" "" "$JAVA not found; install a JDK 17+ (apt-get install openjdk-17-jre-headless)"
  local v major
  v="$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  major="${v%%.*}"
  [[ "$major" =~ ^[0-9]+$ ]] && [ "$major" -ge 17 ] \
    || fail "check java" "" "Kafka $KAFKA_VERSION needs Java 17 or newer; $JAVA is ${v:-unknown}"
}

# fetch_libs: copy the broker's runtime classpath from Maven into $LIBS, unless the libs
# there already came from this exact pom.xml (stamp file holds the pom's hash).
fetch_libs() {
  local want stamp="$LIBS/.pom.sha256" tmp="$KDIR/libs.tmp" start
  want="$(sha256sum "$SRC/pom.xml" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]; then
    return 0
  fi
  command -v "$MVN" >/dev/null 2>&1 || fail "fetch kafka jars" "" "$MVN not found; install Maven (apt-get install maven)"
  say "kafka: fetching Kafka $KAFKA_VERSION jars with Maven (log: $FETCH_LOG)"
  start=$SECONDS
  rm -rf "$tmp"
  echo "=== $(date -Is) mvn dependency:copy-dependencies -> $LIBS" >>"$FETCH_LOG"
  # (Maven 3.8 writes ANSI resets even with -B; strip them from the log.)
  "$MVN" -B -q -Dstyle.color=never -f "$SRC/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >>"$FETCH_LOG" \
    || fail "fetch kafka jars" "$FETCH_LOG" "mvn dependency:copy-dependencies failed"
  local jar
  for jar in "kafka_2.13-$KAFKA_VERSION.jar" "kafka-clients-$KAFKA_VERSION.jar" \
             log4j-core-*.jar log4j-slf4j2-impl-*.jar slf4j-api-2.*.jar jackson-dataformat-yaml-*.jar; do
    compgen -G "$tmp/$jar" >/dev/null \
      || fail "fetch kafka jars" "$FETCH_LOG" "Maven finished but $jar is missing from $tmp"
  done
  echo "$want" >"$tmp/.pom.sha256"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  echo "=== fetched $(ls "$LIBS" | wc -l) jars in $((SECONDS - start)) s" >>"$FETCH_LOG"
}

# render_config: the effective server.properties, with the data dir filled in.
render_config() {
  local esc
  esc="$(printf '%s' "$DATA" | sed 's/[\\&|]/\\&/g')"
  sed "s|@DATA_DIR@|$esc|g" "$SRC/server.properties" >"$PROPS.tmp" \
    || fail "write kafka config" "" "cannot write $PROPS"
  mv "$PROPS.tmp" "$PROPS"
}

storage_tool() {
  "$JAVA" -Xmx256m "-Dlog4j2.configurationFile=$SRC/log4j2.yaml" -cp "$LIBS/*" kafka.tools.StorageTool "$@"
}

# format_storage: format $DATA exactly once; afterwards only check it still looks formatted.
format_storage() {
  if [ -f "$FORMATTED" ]; then
    local id meta="$DATA/meta.properties"
    id="$(cat "$FORMATTED")"
    [ -f "$meta" ] \
      || fail "check kafka storage" "" "storage was formatted (cluster $id) but $meta is missing; $RESET_HINT"
    grep -qx "cluster.id=$id" "$meta" \
      || fail "check kafka storage" "" "$meta does not belong to cluster $id; $RESET_HINT"
    [ -d "$DATA/__cluster_metadata-0" ] \
      || fail "check kafka storage" "" "the KRaft metadata log $DATA/__cluster_metadata-0 is missing; $RESET_HINT"
    return 0
  fi
  if [ -d "$DATA" ] && [ -n "$(ls -A "$DATA")" ]; then
    fail "check kafka storage" "" "$DATA has data but was never marked formatted (interrupted format?); $RESET_HINT"
  fi
  mkdir -p "$DATA"
  local id
  say "kafka: formatting storage in $DATA (once)"
  echo "=== $(date -Is) kafka.tools.StorageTool format" >>"$LOG"
  id="$(storage_tool random-uuid 2>>"$LOG" | tail -n1)"
  [[ "$id" =~ ^[A-Za-z0-9_-]{22}$ ]] || fail "format kafka storage" "$LOG" "StorageTool random-uuid printed '$id'"
  storage_tool format -t "$id" -c "$PROPS" --standalone >>"$LOG" 2>&1 \
    || fail "format kafka storage" "$LOG" "StorageTool format failed; $RESET_HINT"
  echo "$id" >"$FORMATTED"
}

start_broker() {
  local port
  for port in "$KAFKA_PORT" "$CONTROLLER_PORT"; do
    if port_open "$KAFKA_HOST" "$port"; then
      fail "start kafka" "" "$KAFKA_HOST:$port is already in use by a process that is not ours $(who_listens "$port"); stop it, or find it with: ss -ltnp 'sport = :$port'"
    fi
  done
  echo "=== $(date -Is) starting kafka.Kafka $KAFKA_VERSION ($PROPS)" >>"$LOG"
  # setsid: own session, so a Ctrl-C in the calling terminal does not reach the broker.
  # 9>&-: do not let the broker inherit the lock held by this script.
  setsid nohup "$JAVA" "${JVM_OPTS[@]}" -cp "$LIBS/*" kafka.Kafka "$PROPS" \
    </dev/null >>"$LOG" 2>&1 9>&- &
  echo $! >"$PIDFILE"
}

# wait_ready: a real Metadata response from the broker, failing fast if it dies.
wait_ready() {
  local pid out="$KDIR/probe.out" rc=0 start=$SECONDS
  pid="$(cat "$PIDFILE")"
  probe kafka --addr "$KAFKA_ADDR" --wait 120s >"$out" 2>&1 9>&- &
  local probe_pid=$!
  while kill -0 "$probe_pid" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      pkill -P "$probe_pid" 2>/dev/null || true
      kill "$probe_pid" 2>/dev/null || true
      wait "$probe_pid" 2>/dev/null || true
      rm -f "$PIDFILE"
      fail "start kafka" "$LOG" "the broker (pid $pid) exited during startup; if the log shows a storage or metadata error, $RESET_HINT"
    fi
    sleep 0.5
  done
  wait "$probe_pid" || rc=$?
  if [ "$rc" -ne 0 ]; then
    local why
    why="$(tail -n 5 "$out" 2>/dev/null | tr '\n' ' ')"
    fail "wait for kafka" "$LOG" "no Metadata response from $KAFKA_ADDR (probe exit $rc: ${why:-no output}); the broker (pid $pid) is left running, see the log, then run: deploy/local/kafka.sh down"
  fi
  say "kafka: ready in $((SECONDS - start)) s"
}

cmd_up() {
  if running; then
    say "kafka: already running (pid $(cat "$PIDFILE")) on $KAFKA_ADDR"
    return 0
  fi
  if port_open "$KAFKA_HOST" "$KAFKA_PORT" && probe kafka --addr "$KAFKA_ADDR" --wait 5s >/dev/null 2>&1; then
    say "kafka: reusing the broker already answering on $KAFKA_ADDR (not started by this checkout)"
    return 0
  fi
  check_java
  fetch_libs
  render_config
  format_storage
  start_broker
  wait_ready
  say "kafka: listening on $KAFKA_ADDR (PLAINTEXT; controller $KAFKA_HOST:$CONTROLLER_PORT), pid $(cat "$PIDFILE"), log $LOG"
}

cmd_down() {
  if ! running; then
    say "kafka: not running"
    return 0
  fi
  local pid i
  pid="$(cat "$PIDFILE")"
  say "kafka: stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "kafka: no clean shutdown after 30 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
  fi
  rm -f "$PIDFILE"
  echo "=== $(date -Is) stopped (pid $pid)" >>"$LOG"
  say "kafka: stopped"
}

cmd_status() {
  if running; then
    if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
      echo "kafka       running  $KAFKA_ADDR  pid $(cat "$PIDFILE")"
    else
      echo "kafka       starting $KAFKA_ADDR  pid $(cat "$PIDFILE") (not listening yet)"
    fi
  elif port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    echo "kafka       external $KAFKA_ADDR (not started by this checkout)"
  else
    echo "kafka       stopped"
  fi
}

case "${1:-}" in
  up|down|libs)
    # One kafka.sh up/down/libs at a time.
    exec 9>"$KDIR/.lock"
    flock -w 600 9 || fail "lock" "" "another deploy/local/kafka.sh is still running ($KDIR/.lock)"
    if [ "$1" = libs ]; then fetch_libs; else "cmd_$1"; fi # libs: only fetch the jars (the fault suite's private broker)
    ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status|libs" >&2; exit 2 ;;
esac
