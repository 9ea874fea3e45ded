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
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
import yaml
from pydantic import ValidationError

from rater.catalog import Catalog, CatalogError, load_catalog
from rater.catalog.decisions import MAX_CYCLE_DAY, MIN_CYCLE_DAY
from rater.catalog.errors import CatalogIssue
from rater.codec.errors import DecodeError
from rater.codec.validate import check_command, check_usage
from rater.core.inputs import (
    AddSharingMember,
    CancelProduct,
    ChangePlan,
    Command,
    NewSubscriber,
    OrderProduct,
    RemoveSharingMember,
    Tick,
    UsageRecord,
)
from rater.subscribers import SubscriberSpec, not_text_msisdns, read_yaml

__all__ = ["PARTS", "Problem", "check_files", "format_problems", "summary_line"]

PARTS: Final = ("catalog", "subscribers", "commands", "usage")
DEFAULT_MAX_FUTURE_MS: Final = 24 * 3_600_000  # as Settings.max_future_ms
_CODES_SHOWN: Final = 12  # how many catalog codes a message lists


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in an input file. `line` is 1-based, 0 when unknown; `part` is the
    kind of input: catalog, subscribers, commands or usage."""

    file: str
    line: int
    field: str
    message: str
    part: str = "subscribers"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


def format_problems(problems: Iterable[Problem]) -> str:
    """One problem a line, `file:line: field: message`."""
    return "\n".join(str(p) for p in problems)


def summary_line(problems: Sequence[Problem]) -> str:
    """ "3 problems (subscribers 2, usage 1)", or "no problems"."""
    if not problems:
        return "no problems"
    counts = [(part, sum(1 for p in problems if p.part == part)) for part in PARTS]
    detail = ", ".join(f"{part} {n}" for part, n in counts if n)
    return f"{len(problems)} problem{'s' if len(problems) != 1 else ''} ({detail})"


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
    catalog, problems = _check_catalog(catalog_path)
    subs = _Subscribers(str(subscribers_path), catalog)
    subs.check()
    problems += subs.problems
    known = dict(subs.first_line)
    if commands_path is not None:
        problems += _check_commands(Path(commands_path), catalog, known, str(subscribers_path))
    if usage_path is not None:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        files = str(subscribers_path) + (f" or {commands_path}" if commands_path else "")
        problems += _check_usage(Path(usage_path), known, files, now, max_future_ms)
    return problems


# --------------------------------------------------------------------------------------
# Lines from the YAML node tree
# --------------------------------------------------------------------------------------

_PATH_PART: Final = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _path(dotted: str | None) -> list[str | int]:
    """ "prices.voice_fen_per_min" -> [prices, voice_fen_per_min]; "apps[1]" -> [apps, 1]."""
    out: list[str | int] = []
    for index, key in _PATH_PART.findall(dotted or ""):
        out.append(int(index) if index else key)
    return out


def _line_of(node: yaml.Node | None, path: Sequence[str | int]) -> int:
    """The 1-based line of the deepest node on `path` that exists (a key's own line for a
    mapping key), 0 without a node tree."""
    if node is None:
        return 0
    line: int = node.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None


# --------------------------------------------------------------------------------------
# The catalog
# --------------------------------------------------------------------------------------


def _check_catalog(path: str | Path) -> tuple[Catalog | None, list[Problem]]:
    try:
        return load_catalog(path), []
    except CatalogError as e:
        issues = e.errors
    try:
        root = _compose(Path(path).read_bytes().decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError):
        root = None
    problems = [_catalog_problem(root, issue) for issue in issues]
    problems.sort(key=lambda p: p.line)
    return None, problems


def _catalog_problem(root: yaml.Node | None, issue: CatalogIssue) -> Problem:
    path: list[str | int] = []
    label = ""
    if issue.product is not None:
        what, _, name = issue.product.partition(" ")
        section = f"{what}s"  # plan -> plans, pack -> packs
        path = [section, _product_index(root, section, name)]
        label = issue.product
    path += _path(issue.field)
    line = issue.line if issue.line is not None else _line_of(root, path)
    field = ".".join(x for x in (label, issue.field or "") if x)
    return Problem(issue.source, line, field, issue.reason, "catalog")


def _product_index(root: yaml.Node | None, section: str, name: str) -> int:
    """The position of product `name` ("P58", or "#3" for the third) in `section`."""
    if name.startswith("#") and name[1:].isdigit():
        return int(name[1:]) - 1
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == section and isinstance(value, yaml.SequenceNode):
                for i, entry in enumerate(value.value):
                    if isinstance(entry, yaml.MappingNode) and any(
                        k.value == "code" and getattr(v, "value", None) == name
                        for k, v in entry.value
                    ):
                        return i
    return -1


def _codes(codes: Iterable[str]) -> str:
    shown = list(codes)
    more = f", ... ({len(shown)} in all)" if len(shown) > _CODES_SHOWN else ""
    return ", ".join(shown[:_CODES_SHOWN]) + more


def _plan_problem(catalog: Catalog, code: object) -> str | None:
    if not isinstance(code, str) or code in catalog.plans:
        return None
    if code in catalog.packs:
        return f"{code} is a pack, not a plan (plans: {_codes(catalog.plans)})"
    return f"unknown plan {code!r} (catalog {catalog.version} plans: {_codes(catalog.plans)})"


def _pack_problem(catalog: Catalog, code: object) -> str | None:
    if not isinstance(code, str) or code in catalog.packs:
        return None
    if code in catalog.plans:
        return f"{code} is a plan, not a pack (a plan is changed with a change_plan command)"
    return f"unknown pack {code!r} (catalog {catalog.version} packs: {_codes(catalog.packs)})"


# --------------------------------------------------------------------------------------
# The subscribers file
# --------------------------------------------------------------------------------------


class _Subscribers:
    """The checks of one subscribers file; `first_line` maps every MSISDN it creates to
    the line of its entry."""

    def __init__(self, source: str, catalog: Catalog | None) -> None:
        self.source = source
        self.catalog = catalog
        self.problems: list[Problem] = []
        self.first_line: dict[str, int] = {}
        self.root: yaml.Node | None = None

    def add(self, path: Sequence[str | int], field: str, message: str) -> None:
        self.problems.append(Problem(self.source, _line_of(self.root, path), field, message))

    def check(self) -> None:
        entries = self._read()
        if entries is not None:
            self._entries(entries)
        self.problems.sort(key=lambda p: p.line)

    def _read(self) -> list[Any] | None:
        src = self.source
        try:
            text = Path(src).read_text(encoding="utf-8")
        except OSError as e:
            self.problems.append(Problem(src, 0, "", f"cannot read: {e.strerror}"))
            return None
        except UnicodeDecodeError as e:
            self.problems.append(Problem(src, 0, "", f"not UTF-8 text (offset {e.start})"))
            return None
        try:
            self.root, data = read_yaml(text)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            reason = ": ".join(x for x in (e.context, e.problem) if x)
            line = mark.line + 1 if mark else 0
            self.problems.append(Problem(src, line, "", f"not valid YAML: {reason}"))
            return None
        except yaml.YAMLError as e:
            self.problems.append(Problem(src, 0, "", f"not valid YAML: {e}"))
            return None
        if not isinstance(data, dict):
            self.add([], "", "expected a mapping with a list `subscribers:`")
            return None
        for key in data:
            if key != "subscribers":
                self.add([str(key)], str(key), "unknown field (allowed: subscribers)")
        entries = data.get("subscribers")
        if not isinstance(entries, list):
            self.add(["subscribers"], "subscribers", "expected a list of subscribers")
            return None
        for bad in not_text_msisdns(self.root):
            self.add(
                ["subscribers", bad.entry, bad.field], bad.field, self._who(bad.entry, bad.hint)
            )
            entry = entries[bad.entry]
            if isinstance(entry, dict):
                entry[bad.field] = bad.text  # as meant: no more problems from the number
        return entries

    def _who(self, i: int, message: str, msisdn: object = None) -> str:
        shown = f" ({msisdn})" if isinstance(msisdn, str) else ""
        return f"subscriber #{i + 1}{shown}: {message}"

    def _entries(self, entries: list[Any]) -> None:
        owners: dict[str, tuple[object, object]] = {}  # msisdn -> (shares_with, province)
        every = {
            e["msisdn"]: i
            for i, e in reversed(list(enumerate(entries)))
            if isinstance(e, dict) and isinstance(e.get("msisdn"), str)
        }
        for i, raw in enumerate(entries):
            at: list[str | int] = ["subscribers", i]
            msisdn = raw.get("msisdn") if isinstance(raw, dict) else None
            try:
                SubscriberSpec.model_validate(raw)
            except ValidationError as e:
                for err in e.errors(include_url=False):
                    loc: list[str | int] = list(err["loc"])
                    field = _dotted(loc)
                    self.add([*at, *loc], field, self._who(i, _reason(field, err), msisdn))
            if not isinstance(raw, dict) or not isinstance(msisdn, str):
                continue
            line = _line_of(self.root, at)
            if msisdn in self.first_line:
                first = self.first_line[msisdn]
                self.add(
                    [*at, "msisdn"],
                    "msisdn",
                    self._who(i, f"duplicate msisdn: already at line {first}", msisdn),
                )
            else:
                self.first_line[msisdn] = line
            self._sharing(i, raw, owners, every)
            owners.setdefault(msisdn, (raw.get("shares_with"), raw.get("home_province")))
            self._products(i, raw)

    def _sharing(
        self,
        i: int,
        raw: dict[str, Any],
        owners: dict[str, tuple[object, object]],
        every: dict[str, int],
    ) -> None:
        msisdn, owner = raw["msisdn"], raw.get("shares_with")
        if not isinstance(owner, str):
            return
        path: list[str | int] = ["subscribers", i, "shares_with"]
        if owner == msisdn:
            self.add(
                path, "shares_with", self._who(i, "a subscriber cannot share with itself", msisdn)
            )
            return
        if owner not in owners:
            later = every.get(owner)
            why = (
                f"owner {owner} must be listed before its members (it is at line "
                f"{_line_of(self.root, ['subscribers', later])})"
                if later is not None
                else f"no subscriber {owner} in this file"
            )
            self.add(path, "shares_with", self._who(i, why, msisdn))
            return
        owners_owner, province = owners[owner]
        if isinstance(owners_owner, str):
            why = (
                f"owner {owner} is itself a member of {owners_owner}: sharing groups cannot "
                f"be nested (share with {owners_owner} instead)"
            )
            self.add(path, "shares_with", self._who(i, why, msisdn))
        home = raw.get("home_province")
        if isinstance(home, str) and isinstance(province, str) and home != province:
            why = (
                f"home_province {home} is not the owner's ({owner}: {province}): a sharing "
                "member must be of the owner's province"
            )
            self.add(
                ["subscribers", i, "home_province"], "home_province", self._who(i, why, msisdn)
            )

    def _products(self, i: int, raw: dict[str, Any]) -> None:
        msisdn = raw["msisdn"]
        at: list[str | int] = ["subscribers", i]
        orders = raw.get("orders")
        for j, o in enumerate(orders if isinstance(orders, list) else []):
            if isinstance(o, dict) and ("product" in o) == ("cancel" in o):
                why = "an order has either `product` (to order) or `cancel` (to cancel)"
                self.add([*at, "orders", j], f"orders[{j}]", self._who(i, why, msisdn))
        catalog = self.catalog
        if catalog is None:
            return
        checks: list[tuple[list[str | int], str | None]] = [
            ([*at, "plan"], _plan_problem(catalog, raw.get("plan")))
        ]
        packs = raw.get("packs")
        for j, code in enumerate(packs if isinstance(packs, list) else []):
            checks.append(([*at, "packs", j], _pack_problem(catalog, code)))
        for j, o in enumerate(orders if isinstance(orders, list) else []):
            for key in ("product", "cancel"):
                if isinstance(o, dict):
                    checks.append(([*at, "orders", j, key], _pack_problem(catalog, o.get(key))))
        for where, reason in checks:
            if reason is not None:
                self.add(where, _dotted(where[2:]), self._who(i, reason, msisdn))


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _reason(field: str, err: Any) -> str:
    kind, value = err["type"], err.get("input")
    if field == "cycle_day" and kind in ("less_than_equal", "greater_than_equal"):
        return f"cycle day must be {MIN_CYCLE_DAY}..{MAX_CYCLE_DAY}, got {value!r}"
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if isinstance(value, str | int | float | bool) and kind != "value_error":
        return f"{msg}, got {value!r}"
    return msg


# --------------------------------------------------------------------------------------
# Commands and usage
# --------------------------------------------------------------------------------------


def _check_commands(
    path: Path, catalog: Catalog | None, known: dict[str, int], subscribers: str
) -> list[Problem]:
    """As `rater.jobs.offline.read_commands` reads the file, but every bad line; `known`
    gets the subscribers the file creates."""
    from rater.codec.jsonl import input_from_json

    src = str(path)
    problems: list[Problem] = []

    def add(n: int, field: str, message: str) -> None:
        problems.append(Problem(src, n, field, message, "commands"))

    try:
        f = path.open("rb")
    except OSError as e:
        return [Problem(src, 0, "", f"cannot read: {e.strerror}", "commands")]
    with f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                item = input_from_json(orjson.loads(raw))
            except orjson.JSONDecodeError as e:
                add(n, "command", f"not JSON: {e}")
                continue
            except DecodeError as e:
                add(n, "command", str(e))
                continue
            if isinstance(item, UsageRecord):
                add(n, "command", "a usage record, not a command")
                continue
            bad = check_command(item)
            if bad is not None:
                add(n, "command", f"{bad[0]}: {bad[1]}")
            for field, message in _command_problems(item, catalog, known, subscribers):
                add(n, field, message)
            if isinstance(item, NewSubscriber):
                known.setdefault(item.msisdn, n)
    return problems


def _command_problems(
    cmd: Command | Tick, catalog: Catalog | None, known: dict[str, int], subscribers: str
) -> list[tuple[str, str]]:
    if isinstance(cmd, Tick):
        return []
    out: list[tuple[str, str]] = []
    names: list[tuple[str, str | None]] = [("msisdn", cmd.msisdn)]
    if isinstance(cmd, NewSubscriber):
        names = [("owner", cmd.owner)] if cmd.owner != cmd.msisdn else []
    elif isinstance(cmd, AddSharingMember | RemoveSharingMember):
        names.append(("member", cmd.member))
    for field, msisdn in names:
        if msisdn is not None and msisdn not in known:
            out.append((field, f"no subscriber {msisdn} in {subscribers} or before this line"))
    if catalog is None:
        return out
    codes: list[tuple[str, str | None]] = []
    if isinstance(cmd, NewSubscriber):
        codes.append(("plan", _plan_problem(catalog, cmd.plan)))
        codes += [(f"packs[{j}]", _pack_problem(catalog, p)) for j, p in enumerate(cmd.packs)]
    elif isinstance(cmd, ChangePlan):
        codes.append(("plan", _plan_problem(catalog, cmd.plan)))
    elif isinstance(cmd, OrderProduct | CancelProduct):
        codes.append(("product", _pack_problem(catalog, cmd.product)))
    out += [(field, why) for field, why in codes if why is not None]
    return out


def _check_usage(
    path: Path, known: dict[str, int], files: str, now_ms: int, max_future_ms: int
) -> list[Problem]:
    """Every line `rater.jobs.offline.read_usage` cannot read, every record `check_usage`
    refuses, and one problem per MSISDN no file creates (its count, at its first line)."""
    from rater.jobs.offline import read_usage

    src = str(path)
    if not path.is_file():
        return [Problem(src, 0, "", "no such file", "usage")]
    problems: list[Problem] = []
    unknown: dict[str, list[int]] = {}  # msisdn -> [first line, records]
    with path.open("rb") as f:
        # read_usage yields one item per non-blank line of a JSON lines file, in order;
        # an Avro container has no lines: its records are numbered from 1
        avro = f.read(4) == b"Obj\x01"
        f.seek(0)
        lines = iter(range(1, 1 << 62)) if avro else (n for n, r in enumerate(f, 1) if r.strip())
        for item in read_usage(path):
            n = next(lines)
            if not isinstance(item, UsageRecord):
                bad, _ = item
                problems.append(
                    Problem(src, bad.line, "record", f"not a usage record: {bad.reason}", "usage")
                )
                continue
            found = check_usage(item, now_ms, max_future_ms)
            if found is not None:
                problems.append(Problem(src, n, "record", f"{found[0]}: {found[1]}", "usage"))
                continue
            if item.msisdn not in known:
                seen = unknown.setdefault(item.msisdn, [n, 0])
                seen[1] += 1
    for msisdn, (first, count) in unknown.items():
        records = f"{count} record{'s' if count != 1 else ''}"
        why = f"no subscriber {msisdn} in {files}: {records} (UNKNOWN_SUBSCRIBER), the first here"
        problems.append(Problem(src, first, "msisdn", why, "usage"))
    problems.sort(key=lambda p: p.line)
    return problems
