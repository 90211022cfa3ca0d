#!/usr/bin/env bash
# Headless Chromium from Debian's packages, for the operator console's browser test
# (web/e2e_test.go drives it with chromedp). Idempotent: installs only when missing.
# Prints where it is. Exits non-zero when it cannot be installed; the test then skips
# and says why.
# Usage: deploy/local/chromium.sh
source "$(dirname "$0")/lib.sh"

log="$ORDO_LOG/chromium-install.log"

find_chromium() {
  local c
  for c in chromium chromium-browser; do
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
  done
  return 1
}

if ! find_chromium >/dev/null; then
  # fonts-dejavu-core: the screenshots need a font with real glyphs.
  apt_install "chromium" "$log" chromium fonts-dejavu-core
  find_chromium >/dev/null || fail "chromium" "$log" "the chromium package is installed but no chromium is on PATH"
fi
# The launcher script of Debian's package prints its own noise; the version comes from
# the binary itself.
bin="$(find_chromium)"
real="/usr/lib/chromium/chromium"
[ -x "$real" ] || real="$bin"
say "chromium: $bin ($("$real" --version 2>/dev/null | head -n1))"
