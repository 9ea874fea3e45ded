#!/usr/bin/env bash
# The main job, end to end on the local Kafka and Redis (started by `make demo`):
# create topics, load the example subscribers, produce the sample usage, run the
# streaming rater until it has applied everything, tick the clock to the next cycle,
# and show what came out. Each run uses its own topics, group and Redis namespace, so
# it can be run again and again with the same result (the run before stays, older ones
# are removed).
set -euo pipefail
cd "$(dirname "$0")/.."
RATER=.venv/bin/rater
RUN="demo-$(date +%Y%m%d-%H%M%S)"
mkdir -p var/demo
CONF="var/demo/$RUN.yaml"
cat > "$CONF" <<YAML
catalog: examples/catalog-basic.yaml
group_id: $RUN
instance_id: $RUN-1
namespace: $RUN
metrics_port: 0
partitions: 4
topics:
  usage: $RUN.usage
  commands: $RUN.commands
  charges: $RUN.charges
  throttle: $RUN.throttle
  notifications: $RUN.notifications
  unrated: $RUN.unrated
  dead_letter: $RUN.deadletter
YAML
# Earlier runs' topics and keys are removed, the newest kept for `rater balance`.
.venv/bin/python scripts/demo_cleanup.py var/demo --keep 2
SUBS=examples/subscribers-basic.yaml
USAGE=examples/usage-basic.jsonl
step() { printf '\n== %s\n' "$*"; }

step "topics ($RUN.*)";                 $RATER topics --config "$CONF"
step "load subscribers from $SUBS";     $RATER load --config "$CONF" --subscribers "$SUBS"
step "rater run: apply the commands";   $RATER run --config "$CONF" --drain --log-level WARNING
step "produce usage from $USAGE";       $RATER produce --config "$CONF" --usage "$USAGE" --subscribers "$SUBS"
step "rater run: rate the usage";       $RATER run --config "$CONF" --drain --log-level WARNING
step "tick the clock to the next cycle"; $RATER tick --config "$CONF" --at 2026-05-01T00:00:00+08:00
step "rater run: apply the tick";       $RATER run --config "$CONF" --drain --log-level WARNING
step "result"
$RATER report --config "$CONF" --subscribers "$SUBS"
printf '\nsettings of this run: %s (use with rater balance MSISDN --config %s)\n' "$CONF" "$CONF"
