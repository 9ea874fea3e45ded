"""`rater check` of a commands file (`--commands`): every line that is not a command,
out of limits, or names an unknown subscriber or product."""

from __future__ import annotations

from pathlib import Path

import orjson

from rater.catalog import Catalog
from rater.check.catalog import pack_problem, plan_problem
from rater.check.problems import Problem
from rater.codec.errors import DecodeError
from rater.codec.validate import check_command
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


def check_commands_file(
    path: Path, catalog: Catalog | None, known: dict[str, int], subscribers: str
) -> list[Problem]:
    """As `rater.jobs.files.read_commands` reads the file, but every bad line; `known`
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
        codes.append(("plan", plan_problem(catalog, cmd.plan)))
        codes += [(f"packs[{j}]", pack_problem(catalog, p)) for j, p in enumerate(cmd.packs)]
    elif isinstance(cmd, ChangePlan):
        codes.append(("plan", plan_problem(catalog, cmd.plan)))
    elif isinstance(cmd, OrderProduct | CancelProduct):
        codes.append(("product", pack_problem(catalog, cmd.product)))
    out += [(field, why) for field, why in codes if why is not None]
    return out
