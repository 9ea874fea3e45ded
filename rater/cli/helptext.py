"""Help text without type placeholders, for every command of the `rater` group."""

from __future__ import annotations

from functools import partial
from typing import Any

from typer.core import TyperArgument, TyperGroup, TyperOption


def _metavar(p: TyperOption) -> str:
    """A plain metavar for help: FILE, TIME, N, ... never a type placeholder."""
    name = (p.name or "").lower()
    desc = p.type_descriptor
    ann = desc.annotation
    if desc.is_list:
        ann = next(iter(getattr(ann, "__args__", ())), str)
    if desc.choices is not None:
        return "|".join(str(getattr(c, "value", c)) for c in desc.choices)
    if name in ("until", "since", "at"):
        return "TIME"
    if name.endswith("seconds"):
        return "SECONDS"
    if desc.is_path:
        return "FILE"
    if ann is int:
        return "N"
    if ann is float:
        return "NUMBER"
    return {"log_level": "LEVEL", "msisdn": "MSISDN"}.get(name, "TEXT")


def _constant(value: Any, ctx: Any) -> Any:
    return value


def _tidy(cmd: Any) -> None:
    """Help text without type placeholders (`<bool>`, `<path>`, `{msisdn}`): flags show
    none, other options a plain metavar, arguments their name in capitals."""
    for p in cmd.params:
        if isinstance(p, TyperOption):
            if p.is_flag:
                p.metavar = ""
            elif p.metavar is None:
                p.metavar = _metavar(p)
        elif isinstance(p, TyperArgument):
            if p.metavar is None:
                p.metavar = (p.name or "arg").upper()
            shown = p.metavar if p.required else f"[{p.metavar}]"
            p.get_usage_pieces = partial(_constant, [shown])  # type: ignore[method-assign]
            p.display_type_rich = partial(_constant, "")  # type: ignore[method-assign]
    original = cmd.get_help_option

    def help_option(ctx: Any) -> Any:
        opt = original(ctx)
        if opt is not None:
            opt.metavar = ""
        return opt

    cmd.get_help_option = help_option
    for sub in getattr(cmd, "commands", {}).values():
        _tidy(sub)


class TidyGroup(TyperGroup):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _tidy(self)


HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}
