# Shared helpers for the local stack scripts. Source it; do not run it.
# Every script keeps its state under $ORDO_LOCAL (default: <repo>/.local) and its
# logs under $ORDO_LOCAL/log, and fails with a message naming the step and the log.

set -euo pipefail

ORDO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ORDO_LOCAL="${ORDO_LOCAL:-$ORDO_ROOT/.local}"
ORDO_LOG="$ORDO_LOCAL/log"
mkdir -p "$ORDO_LOCAL" "$ORDO_LOG"

say()  { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
fail() { # fail STEP LOG MESSAGE
  local step="$1" log="$2"; shift 2
  printf '\033[31merror:\033[0m %s: %s\n' "$step" "$*" >&2
  if [ -n "$log" ] && [ -f "$log" ]; then
    printf '       read %s; its last lines:\n' "$log" >&2
    tail -n 15 "$log" | sed 's/^/       | /' >&2
  fi
  exit 1
}

# as_root CMD...: run CMD as root (directly, or through sudo when we are not root).
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

# apt_install STEP LOG PKG...: install Debian packages that are missing.
apt_install() {
  local step="$1" log="$2"; shift 2
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "$step: installing ${missing[*]} from Debian (log: $log)"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update >>"$log" 2>&1 || true
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1 \
      || fail "$step" "$log" "apt-get install ${missing[*]} failed"
  fi
}

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# pid_alive PIDFILE: true when the pid in PIDFILE is a running process.
pid_alive() { [ -f "$1" ] && kill -0 "$(head -n1 "$1")" 2>/dev/null; }

# probe: the small Go program that checks real readiness (Metadata, SELECT 1).
probe() {
  local bin="$ORDO_LOCAL/bin/probe"
  if [ ! -x "$bin" ] || [ -n "$(find "$ORDO_ROOT/deploy/local/probe" "$ORDO_ROOT/internal/health" -newer "$bin" -name '*.go' 2>/dev/null | head -n1)" ]; then
    (cd "$ORDO_ROOT" && go build -o "$bin" ./deploy/local/probe) >>"$ORDO_LOG/probe-build.log" 2>&1 \
      || fail "build readiness probe" "$ORDO_LOG/probe-build.log" "go build ./deploy/local/probe failed"
  fi
  "$bin" "$@"
}
