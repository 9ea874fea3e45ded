"""The subscribers file: an operator's export of subscribers and their products, turned
into the commands that create them (the bootstrap used by `rater simulate` and
`rater load`). Format in docs/subscribers.md.

```yaml
subscribers:
  - msisdn: "13800000001"
    plan: P58
    cycle_day: 15                      # 1..28, default 1
    home_province: GD
    activated: "2026-03-01T00:00:00+08:00"
    packs: [N2G, DMIGU6G]              # ordered at activation
    orders:                            # later orders (and cancels)
      - {product: T1G, at: "2026-03-20T10:00:00+08:00"}
      - {cancel: N2G, at: "2026-04-02T10:00:00+08:00"}
    status: ACTIVE                     # or ARREARS
  - msisdn: "13800000002"
    shares_with: "13800000001"         # a sharing member of that owner (same province)
    plan: P58
    home_province: GD
    activated: "2026-03-01T00:00:00+08:00"
```
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rater.catalog.decisions import MAX_CYCLE_DAY, MIN_CYCLE_DAY
from rater.core.cycles import to_ms
from rater.core.inputs import (
    CancelProduct,
    Command,
    NewSubscriber,
    OrderProduct,
    SetStatus,
    SubscriberStatus,
)
from rater.gc_tuning import paused_gc


class SubscribersError(ValueError):
    """A subscribers file that cannot be used; the message names file, entry and field."""


def _time(v: Any) -> int:
    if isinstance(v, datetime):
        if v.tzinfo is None:
            raise ValueError("a time needs a UTC offset, e.g. 2026-03-01T00:00:00+08:00")
        return int(v.timestamp() * 1000)
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        try:
            dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError as e:
            raise ValueError(f"not an ISO-8601 time: {v!r}") from e
        if dt.tzinfo is None:
            raise ValueError(f"time {v!r} needs a UTC offset, e.g. +08:00")
        return to_ms(v)
    raise ValueError(f"not a time: {v!r}")


class OrderSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product: str | None = None
    cancel: str | None = None
    at: Any

    @field_validator("at")
    @classmethod
    def _at(cls, v: Any) -> int:
        return _time(v)


class SubscriberSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    msisdn: Annotated[str, Field(min_length=1)]
    plan: str
    cycle_day: Annotated[int, Field(ge=MIN_CYCLE_DAY, le=MAX_CYCLE_DAY)] = 1
    home_province: str
    activated: Any
    packs: list[str] = Field(default_factory=list)  # not a default copied per entry
    orders: list[OrderSpec] = Field(default_factory=list)
    status: SubscriberStatus = SubscriberStatus.ACTIVE
    shares_with: str | None = None

    @field_validator("msisdn", "shares_with", mode="before")
    @classmethod
    def _as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v

    @field_validator("activated")
    @classmethod
    def _activated(cls, v: Any) -> int:
        return _time(v)


class SubscribersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subscribers: list[SubscriberSpec]


def parse_subscribers(data: Any, source: str = "<memory>") -> list[SubscriberSpec]:
    try:
        parsed = SubscribersFile.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = list(err["loc"])
            where = "file"
            if len(loc) >= 2 and loc[0] == "subscribers" and isinstance(loc[1], int):
                entry = loc[1]
                msisdn = "?"
                if isinstance(data, dict) and isinstance(data.get("subscribers"), list):
                    raw = data["subscribers"][entry]
                    if isinstance(raw, dict):
                        msisdn = str(raw.get("msisdn", "?"))
                where = f"subscriber #{entry + 1} ({msisdn})"
                loc = loc[2:]
            field = ".".join(str(x) for x in loc) or "-"
            problems.append(f"{source}: {where}: field {field}: {err['msg']}")
        raise SubscribersError("\n".join(problems)) from None
    seen: set[str] = set()
    for i, s in enumerate(parsed.subscribers):
        if s.msisdn in seen:
            raise SubscribersError(f"{source}: subscriber #{i + 1} ({s.msisdn}): duplicate msisdn")
        if s.shares_with is not None and s.shares_with not in seen:
            raise SubscribersError(
                f"{source}: subscriber #{i + 1} ({s.msisdn}): field shares_with: owner "
                f"{s.shares_with} must be listed before its members"
            )
        seen.add(s.msisdn)
    return parsed.subscribers


_NOT_TEXT_TAGS = {
    "tag:yaml.org,2002:int": "the number",
    "tag:yaml.org,2002:float": "the number",
    "tag:yaml.org,2002:bool": "the boolean",
}
TEXT_FIELDS = ("msisdn", "shares_with")  # MSISDNs: text, never numbers


@dataclass(frozen=True, slots=True)
class NotText:
    """An MSISDN field that YAML reads as a number (or a boolean): `msisdn: 01234567`
    unquoted is the octal number 342391, `msisdn: 13800000001` an int."""

    entry: int  # 0-based position in `subscribers`
    field: str  # msisdn or shares_with
    line: int  # 1-based
    text: str  # as written in the file
    value: object  # what YAML makes of it
    what: str  # "the number" or "the boolean"

    @property
    def hint(self) -> str:
        shown = str(self.value).lower() if isinstance(self.value, bool) else self.value
        what = self.what
        return (
            f"{self.field} {self.text} is read by YAML as {what} {shown}: "
            f'write it in quotes, {self.field}: "{self.text}"'
        )


def read_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (lines, the text as written) and the data of a YAML document.
    libyaml's loader when PyYAML has it (its wheels do): the same safe subset; with the
    collector paused, 50 000 subscribers in under 2 s (about 9 s with it on, 20 with the
    pure-Python loader). Raises yaml.YAMLError."""
    digest = hashlib.sha1(text.encode()).digest()
    if _LAST_READ and _LAST_READ[0] == digest:  # `rater check`, then the run: read once
        found: tuple[yaml.Node | None, Any] = _LAST_READ[1]
        _LAST_READ.clear()  # used twice at most: not kept for the rest of the run
        return found
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        with paused_gc():  # the collector walked the growing node tree again and again
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    _LAST_READ[:] = [digest, (node, data)]
    return node, data


_LAST_READ: list[Any] = []  # [sha1 of the text, (node, data)] of the last document read


def forget_last_read() -> None:
    """Drop the document `read_yaml` keeps for a second reader, when none follows
    (`rater check`): a large tree left to the interpreter's exit took seconds more."""
    _LAST_READ.clear()


def not_text_msisdns(root: yaml.Node | None) -> list[NotText]:
    """Every `msisdn` and `shares_with` of `subscribers` that YAML reads as a number (or a
    boolean) rather than a string, in file order."""
    found: list[NotText] = []
    entries = _value_of(root, "subscribers")
    if not isinstance(entries, yaml.SequenceNode):
        return found
    for i, entry in enumerate(entries.value):
        if not isinstance(entry, yaml.MappingNode):
            continue
        for key, value in entry.value:
            if (
                isinstance(key, yaml.ScalarNode)
                and key.value in TEXT_FIELDS
                and isinstance(value, yaml.ScalarNode)
                and value.tag in _NOT_TEXT_TAGS
            ):
                number = yaml.constructor.SafeConstructor().construct_object(value)
                line = value.start_mark.line + 1
                what = _NOT_TEXT_TAGS[value.tag]
                found.append(NotText(i, key.value, line, value.value, number, what))
    return found


def _value_of(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v  # type: ignore[no-any-return]
    return None


def load_subscribers(path: str | Path) -> list[SubscriberSpec]:
    """Read and check a subscribers file. An MSISDN that YAML reads as a number
    (`msisdn: 01234567` is the octal number 342391) is refused with the line and a hint
    to quote it, never turned into other digits."""
    p = Path(path)
    try:
        node, data = read_yaml(p.read_text())
    except OSError as e:
        raise SubscribersError(f"{p}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise SubscribersError(f"{p}: not valid YAML: {e}") from None
    bad = not_text_msisdns(node)
    if bad:
        raise SubscribersError(
            "\n".join(
                f"{p}:{b.line}: subscriber #{b.entry + 1}: field {b.field}: {b.hint}" for b in bad
            )
        )
    return parse_subscribers(data, str(p))


def to_commands(specs: list[SubscriberSpec]) -> list[Command]:
    """Commands that create these subscribers, in time order (file order among equals)."""
    cmds: list[tuple[int, int, Command]] = []
    for s in specs:
        n = len(cmds)
        cmds.append(
            (
                s.activated,
                n,
                NewSubscriber(
                    f"load:{s.msisdn}",
                    s.msisdn,
                    s.activated,
                    s.plan,
                    s.cycle_day,
                    s.home_province,
                    s.shares_with,
                    tuple(s.packs),
                ),
            )
        )
        if s.status != SubscriberStatus.ACTIVE:
            cmds.append(
                (
                    s.activated,
                    len(cmds),
                    SetStatus(f"load:{s.msisdn}:status", s.msisdn, s.activated, s.status),
                )
            )
        for i, o in enumerate(s.orders):
            cid = f"load:{s.msisdn}:order{i}"
            if o.cancel:
                cmds.append((o.at, len(cmds), CancelProduct(cid, s.msisdn, o.at, o.cancel)))
            elif o.product:
                cmds.append((o.at, len(cmds), OrderProduct(cid, s.msisdn, o.at, o.product)))
    cmds.sort(key=lambda c: (c[0], c[1]))
    return [c for _, _, c in cmds]
