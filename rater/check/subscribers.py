"""`rater check` of the subscribers file: YAML, fields, duplicates, sharing, products."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from rater.catalog import Catalog
from rater.catalog.decisions import MAX_CYCLE_DAY, MIN_CYCLE_DAY
from rater.check.catalog import pack_problem, plan_problem
from rater.check.problems import Problem
from rater.check.yamllines import line_of
from rater.subscribers import SubscriberSpec, not_text_msisdns, read_yaml


class SubscribersCheck:
    """The checks of one subscribers file; `first_line` maps every MSISDN it creates to
    the line of its entry."""

    def __init__(self, source: str, catalog: Catalog | None) -> None:
        self.source = source
        self.catalog = catalog
        self.problems: list[Problem] = []
        self.first_line: dict[str, int] = {}
        self.root: yaml.Node | None = None

    def add(self, path: Sequence[str | int], field: str, message: str) -> None:
        self.problems.append(Problem(self.source, line_of(self.root, path), field, message))

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
            line = line_of(self.root, at)
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
                f"{line_of(self.root, ['subscribers', later])})"
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
            ([*at, "plan"], plan_problem(catalog, raw.get("plan")))
        ]
        packs = raw.get("packs")
        for j, code in enumerate(packs if isinstance(packs, list) else []):
            checks.append(([*at, "packs", j], pack_problem(catalog, code)))
        for j, o in enumerate(orders if isinstance(orders, list) else []):
            for key in ("product", "cancel"):
                if isinstance(o, dict):
                    checks.append(([*at, "orders", j, key], pack_problem(catalog, o.get(key))))
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
