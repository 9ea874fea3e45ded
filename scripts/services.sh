#!/usr/bin/env bash
# All local services the integration tests need: Kafka and Redis (and, on request,
# the 3-node Redis Cluster).
#
#   scripts/services.sh up [--fresh] [--cluster]   install debs if missing, start, wait
#   scripts/services.sh down                         stop everything started by the scripts
#   scripts/services.sh status                       exit 0 when Kafka and Redis both run
#
# Env: see scripts/kafka.sh and scripts/redis.sh.
set -euo pipefail

PROG=services
# shellcheck source=scripts/_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"
S="$RATER_ROOT/scripts"

cmd_up() {
  local fresh=() cluster=0 arg
  for arg in "$@"; do
    case "$arg" in
      --fresh) fresh=(--fresh) ;;
      --cluster) cluster=1 ;;
      *) die "unknown option: $arg" ;;
    esac
  done
  "$S/install-debs.sh"
  "$S/redis.sh" start "${fresh[@]}"
  if ((cluster)); then "$S/redis.sh" cluster-start "${fresh[@]}"; fi
  "$S/kafka.sh" start "${fresh[@]}"
  echo "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:${KAFKA_PORT:-9092}"
  echo "REDIS_URL=redis://127.0.0.1:${REDIS_PORT:-6379}/0"
}

cmd_down() {
  "$S/kafka.sh" stop
  "$S/redis.sh" stop
  if "$S/redis.sh" cluster-status >/dev/null 2>&1 || [[ $? -ne 3 ]]; then
    "$S/redis.sh" cluster-stop
  fi
}

cmd_status() {
  local rc=0
  "$S/kafka.sh" status || rc=1
  "$S/redis.sh" status || rc=1
  "$S/redis.sh" cluster-status || true
  return "$rc"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 {up [--fresh] [--cluster]|down|status}" >&2
    exit 2
    ;;
esac
