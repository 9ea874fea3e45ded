"""`rater check`: the input files against each other, every problem with file and line.

    problems = check_files("catalog.yaml", "subscribers.yaml", usage_path="usage.jsonl")
    print(format_problems(problems))

What is found (all of it, not only the first problem, each file's problems in line order):

* the catalog: everything `load_catalog` refuses, with the line of the product or field;
* the subscribers file: YAML errors; an `msisdn` or `shares_with` that YAML reads as a
  number (`msisdn: 01234567` is the octal number 342391), with a hint to quote it; every
  field the format refuses (a cycle day outside 1..28, a time without an offset, an
  unknown field...); duplicate MSISDNs; plan and pack codes (`plan`, `packs`,
  `orders[].product`, `orders[].cancel`) not in the catalog, or of the wrong kind; sharing
  (`shares_with`) with an unknown subscriber, one listed later, itself, a subscriber that
  is itself a member, or across provinces;
* a commands file (`--commands`): lines that are not commands, commands out of limits
  (`rater.codec.validate.check_command`), commands naming a subscriber that neither file
  creates, or an unknown product;
* a usage file (`--usage`): lines that are not usage records, records that would be
  dead-lettered as implausible (`rater.codec.validate.check_usage`, against the current
  time), records of MSISDNs no file creates (one problem per MSISDN: the count and the
  first line).

`Problem.part` says which input a problem is about: usage findings ("usage") are what the
stream would dead-letter by design, the others make a run wrong. `rater simulate` and
`rater load` run `check_files` without the usage file before they start.

One module per kind of file checked (catalog, subscribers, commands, usage); `problems`
is what they report, `yamllines` finds a YAML node's line.
"""

from __future__ import annotations

import time
from pathlib import Path

from rater.check.catalog import check_catalog
from rater.check.commands import check_commands_file
from rater.check.problems import (
    DEFAULT_MAX_FUTURE_MS,
    PARTS,
    Problem,
    format_problems,
    summary_line,
)
from rater.check.subscribers import SubscribersCheck
from rater.check.usage import check_usage_file

__all__ = ["PARTS", "Problem", "check_files", "format_problems", "summary_line"]


def check_files(
    catalog_path: str | Path,
    subscribers_path: str | Path,
    usage_path: str | Path | None = None,
    commands_path: str | Path | None = None,
    *,
    now_ms: int | None = None,
    max_future_ms: int = DEFAULT_MAX_FUTURE_MS,
) -> list[Problem]:
    """Every problem of the files, checked against each other: the catalog's, then the
    subscribers file's, the commands file's and the usage file's, each in line order.
    `now_ms` (default: the current time) is the clock usage start times are checked
    against, `max_future_ms` how far ahead of it they may be."""
    catalog, problems = check_catalog(catalog_path)
    subs = SubscribersCheck(str(subscribers_path), catalog)
    subs.check()
    problems += subs.problems
    known = dict(subs.first_line)
    if commands_path is not None:
        problems += check_commands_file(Path(commands_path), catalog, known, str(subscribers_path))
    if usage_path is not None:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        files = str(subscribers_path) + (f" or {commands_path}" if commands_path else "")
        problems += check_usage_file(Path(usage_path), known, files, now, max_future_ms)
    return problems
