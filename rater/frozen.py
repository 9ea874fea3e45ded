"""Fast construction of frozen slotted dataclasses, for the hot paths (decoding and
the rating core build one or more per record)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


def fast_constructor(cls: type[Any]) -> Callable[..., Any]:
    """A positional constructor for `cls` that skips the frozen dataclass `__init__`.

    A frozen dataclass sets each field with `object.__setattr__` (~0.2 µs per field). For
    a slotted dataclass without `__post_init__` we instead fill an instance of a plain
    twin class with the same `__slots__` (ordinary, fast attribute stores) and then switch
    its `__class__`: the result is indistinguishable from a normal instance (same type,
    eq, hash, repr, immutability). Falls back to `cls` itself when the trick does not
    apply.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    names = [f.name for f in dataclasses.fields(cls)]
    slots = cls.__dict__.get("__slots__")
    if (
        hasattr(cls, "__post_init__")
        or not all(f.init for f in dataclasses.fields(cls))
        or slots is None
        or tuple(slots) != tuple(names)
        or cls.__bases__ != (object,)
        or not names
    ):
        return cls
    params = ", ".join(names)
    body = "".join(f"    o.{n} = {n}\n" for n in names)
    src = (
        f"class _Twin:\n    __slots__ = _SLOTS\n"
        f"def make({params}):\n    o = _Twin.__new__(_Twin)\n{body}"
        f"    o.__class__ = _CLS\n    return o\n"
    )
    ns: dict[str, Any] = {"_SLOTS": tuple(slots), "_CLS": cls}
    exec(compile(src, f"<rater-codec fast {cls.__qualname__}>", "exec"), ns)
    make: Callable[..., Any] = ns["make"]
    try:
        probe = make(*range(len(names)))
        if type(probe) is not cls or probe != cls(*range(len(names))):
            return cls
    except Exception:  # the layout check refused the __class__ switch
        return cls
    return make
