#!/usr/bin/env bash
# Installs the Debian packages the local services and checks need, when missing:
#   redis-server (redis-server, redis-cli), prometheus (promtool, and the prometheus
#   server that tests/integration/test_prometheus_scrape.py runs), chromium (the headless
#   browser that tests/integration/test_replay_report_chromium.py opens report.html in).
#   scripts/install-debs.sh [PACKAGE...]     default: redis-server prometheus chromium
# Idempotent and quiet: prints nothing when everything is already there.
# Package services are NOT started (a temporary policy-rc.d denies it):
# scripts/redis.sh runs its own redis-server on its own config.
set -euo pipefail

PROG=install-debs
# shellcheck source=scripts/_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

# The commands whose presence means "installed" (else dpkg's status decides).
probe_cmd() {
  case "$1" in
    redis-server) echo redis-server ;;
    redis-tools) echo redis-cli ;;
    prometheus) echo promtool prometheus ;;
    chromium) echo chromium ;;
    *) echo "" ;;
  esac
}

installed() {
  local cmds cmd
  read -r -a cmds <<<"$(probe_cmd "$1")"
  if ((${#cmds[@]})); then
    for cmd in "${cmds[@]}"; do
      command -v "$cmd" >/dev/null 2>&1 || return 1
    done
  else
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
  fi
}

pkgs=("$@")
((${#pkgs[@]})) || pkgs=(redis-server prometheus chromium)
missing=()
for p in "${pkgs[@]}"; do
  installed "$p" || missing+=("$p")
done
((${#missing[@]})) || exit 0

command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install these by hand: ${missing[*]}"
SUDO=()
if ((EUID != 0)); then
  command -v sudo >/dev/null 2>&1 || die "not root and no sudo; install by hand: ${missing[*]}"
  SUDO=(sudo)
fi

policy=/usr/sbin/policy-rc.d
added_policy=0
cleanup() {
  if ((added_policy)); then "${SUDO[@]}" rm -f "$policy"; fi
  rm -f "${out:-}"
}
trap cleanup EXIT
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
  "${SUDO[@]}" chmod 755 "$policy"
  added_policy=1
fi

log "installing ${missing[*]}"
out="$(mktemp)"
export DEBIAN_FRONTEND=noninteractive
if ! { "${SUDO[@]}" apt-get update -qq &&
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$out" 2>&1; then
  tail -n 30 "$out" >&2
  die "apt-get failed for: ${missing[*]}"
fi
for p in "${missing[@]}"; do
  installed "$p" || die "$p still missing after apt-get install"
done
