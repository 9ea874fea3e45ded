# shellcheck shell=bash
# Helpers shared by scripts/kafka.sh, scripts/redis.sh, scripts/services.sh.
# Sourced, not executed. Callers set PROG before sourcing.

RATER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# RATER_VAR: runtime state (data, logs, pid files). A relative value is taken
# relative to the repository root, so the scripts work from any cwd.
RATER_VAR="${RATER_VAR:-var}"
case "$RATER_VAR" in
  /*) ;;
  *) RATER_VAR="$RATER_ROOT/$RATER_VAR" ;;
esac
RATER_CACHE="${RATER_CACHE:-${HOME:-/root}/.cache/rater}"
export RATER_ROOT RATER_VAR RATER_CACHE

log() { printf '%s: %s\n' "${PROG:-rater}" "$*"; }
warn() { printf '%s: %s\n' "${PROG:-rater}" "$*" >&2; }
die() {
  warn "error: $*"
  exit 1
}

# port_open PORT [HOST]: true when something accepts TCP connections there.
port_open() {
  local port="$1" host="${2:-127.0.0.1}"
  timeout 2 bash -c ": >/dev/tcp/$host/$port" 2>/dev/null
}

# port_owner PORT: best-effort description of the listener (for error messages).
port_owner() {
  if command -v ss >/dev/null 2>&1; then
    ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -n1
  fi
}

# pid_from_file FILE: prints the pid when the file holds a live process.
pid_from_file() {
  local f="$1" pid
  [[ -s "$f" ]] || return 1
  pid="$(tr -dc '0-9' <"$f")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  printf '%s\n' "$pid"
}

# pid_cmdline_has PID WORD: guards against a recycled pid.
pid_cmdline_has() {
  [[ -r "/proc/$1/cmdline" ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2"
}

# wait_for SECONDS CMD...: polls CMD every 0.2 s until it succeeds.
wait_for() {
  local secs="$1"
  shift
  local deadline=$((SECONDS + secs))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# stop_pid PID NAME TIMEOUT: SIGTERM, wait, then SIGKILL.
stop_pid() {
  local pid="$1" name="$2" secs="${3:-30}"
  kill -TERM "$pid" 2>/dev/null || return 0
  if wait_for "$secs" eval "! kill -0 $pid 2>/dev/null"; then
    return 0
  fi
  warn "$name (pid $pid) still running after ${secs}s: sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  wait_for 10 eval "! kill -0 $pid 2>/dev/null" || die "could not kill $name (pid $pid)"
}

# rater_python: an interpreter that can import confluent_kafka, or nothing.
rater_python() {
  local py
  for py in "${RATER_PYTHON:-}" "$RATER_ROOT/.venv/bin/python" python3; do
    [[ -n "$py" ]] || continue
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import confluent_kafka' 2>/dev/null; then
      printf '%s\n' "$py"
      return 0
    fi
  done
  return 1
}
