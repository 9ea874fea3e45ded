#!/usr/bin/env bash
# The longer fuzz run of the decoders (docs/fuzzing.md); CI runs a bounded one
# (tests/fuzz/test_fuzz_bounded.py).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (make fuzz FUZZ_SECONDS=600)
#
# Each TARGET (default: usage command framed jsonl arrive) runs SECONDS (default 120)
# under atheris, one after the other, from its corpus in var/fuzz/corpus/TARGET (seeded
# with real messages, kept and grown from run to run). An input that breaks a target is
# saved as var/fuzz/crashes/TARGET-crash-<sha1>; the log is var/fuzz/TARGET.log.
# Env: FUZZ_MAX_LEN (4096 bytes an input), FUZZ_TIMEOUT (10 s an input: longer is a
# hang), FUZZ_RSS_MB (2048), RATER_VAR (var/, relative to the repo root).
# Exits 1 if any target failed, naming the saved inputs.
set -euo pipefail

PROG=fuzz
# shellcheck source=scripts/_lib.sh
source "$(dirname "$0")/_lib.sh"
cd "$RATER_ROOT"

seconds="${1:-120}"
[[ "$seconds" =~ ^[0-9]+$ ]] || die "SECONDS must be a whole number, got '$seconds'"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(usage command framed jsonl arrive)
py="$RATER_ROOT/.venv/bin/python"
[[ -x "$py" ]] || die "no .venv: run 'make setup' first"

out="$RATER_VAR/fuzz"
mkdir -p "$out/crashes"
failed=()
for t in "${targets[@]}"; do
  log "$t: ${seconds}s (log: $out/$t.log)"
  if "$py" -m tests.fuzz.fuzz_decoders "$t" --corpus "$out/corpus/$t" \
    -max_total_time="$seconds" -max_len="${FUZZ_MAX_LEN:-4096}" \
    -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb="${FUZZ_RSS_MB:-2048}" \
    -artifact_prefix="$out/crashes/$t-" -print_final_stats=1 >"$out/$t.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
    cov=$(grep -Eo 'DONE +cov: [0-9]+' "$out/$t.log" | grep -Eo '[0-9]+$' || echo '?')
    log "$t: ok, ${runs:-?} inputs, coverage $cov, corpus $(find "$out/corpus/$t" -type f | wc -l) files"
  else
    tail -30 "$out/$t.log" >&2
    warn "$t: FAILED; input saved: $(sed -n 's/.*Test unit written to //p' "$out/$t.log" | tr '\n' ' ')"
    failed+=("$t")
  fi
done
if ((${#failed[@]})); then
  die "failed: ${failed[*]} (reproduce: .venv/bin/python -m tests.fuzz.fuzz_decoders TARGET FILE)"
fi
log "no input escaped the dead-letter path"
