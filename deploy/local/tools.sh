#!/usr/bin/env bash
# Tools that check the deployment files (make check-deploy): promtool from Debian's
# prometheus package, and kubectl (for `kubectl kustomize`) when the machine has it.
# Idempotent: installs only what is missing. Prints where each tool is.
# Usage: deploy/local/tools.sh
#
# Installing Debian's prometheus package does not start a Prometheus server on a machine
# whose policy-rc.d forbids starting services (containers, CI); on one that allows it the
# package's own service starts on :9090 like any Debian service, and `systemctl disable
# --now prometheus` stops it. We only need its promtool.
source "$(dirname "$0")/lib.sh"

log="$ORDO_LOG/tools-install.log"

if ! command -v promtool >/dev/null 2>&1; then
  apt_install "tools: promtool" "$log" prometheus
  command -v promtool >/dev/null 2>&1 \
    || fail "tools: promtool" "$log" "the prometheus package is installed but promtool is not on PATH"
fi
say "tools: $(command -v promtool) ($(promtool --version 2>&1 | head -n1))"

# kubectl renders the kustomizations; the Go check module under deploy/k8s/check renders
# them in-process as well, so a machine without kubectl still checks them.
if command -v kubectl >/dev/null 2>&1; then
  say "tools: $(command -v kubectl) (kustomize $(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p'))"
else
  say "tools: no kubectl on this machine; the kustomize check runs in-process (deploy/k8s/check)"
fi
