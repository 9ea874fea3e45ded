"""Remove the topics, consumer group and Redis namespace of earlier demo runs, keeping
the newest `--keep` (their settings files in var/demo say what each run made), so that
running the demo again and again does not pile up topics and keys on the local servers.

Only runs named `demo-*` with a settings file under the given folder are touched."""

from __future__ import annotations

import argparse
from pathlib import Path

from rater.config import ConfigError, load_settings
from rater.stream.tools import remove_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--keep", type=int, default=1)
    args = ap.parse_args()
    runs = sorted(args.folder.glob("demo-*.yaml"))
    old = runs[: max(0, len(runs) - args.keep)]
    for conf in old:
        try:
            s = load_settings(conf)
        except ConfigError as e:
            print(f"skipped {conf}: {e}")
            continue
        if not s.namespace.startswith("demo-"):
            print(f"skipped {conf}: namespace {s.namespace} is not a demo's")
            continue
        deleted = remove_run(s)
        conf.unlink()
        print(f"removed the earlier demo run {s.namespace} ({deleted} Redis keys)")


if __name__ == "__main__":
    main()
