"""Engine options in sweeps: the fields of the engine's options record (the registry's ``options_type``)
as spec keys, their values checked by that record, and how a point's options enter its key and its row.

Which options exist is asked of the registry, never listed here: a field the engine's options type
gains (e.g. a DRAM ``layout``) is a sweep key at once. A value is accepted when the options type accepts
it: booleans are ``true``/``false``, integers are not booleans, floats are finite; a record-valued field
(e.g. ``LayoutSpec``) takes an instance, a table of its fields, or text when its class has ``parse``
(``"nchwc8,tiled"``). A field whose name is also a Hardware field is the hardware's.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
from typing import Any, Mapping, NamedTuple

from ..errors import InputError
from ..hardware import Hardware

_HARDWARE_KEYS = frozenset(Hardware().to_dict())


class OptionField(NamedTuple):
    """One sweepable field of an engine's options record."""

    name: str
    default: Any


@functools.lru_cache(maxsize=None)
def option_fields(engine: str) -> dict[str, OptionField]:
    """The options ``engine`` takes, by name, in the order of its options record ({} when it takes none)."""
    from ..engines import options_type

    cls = options_type(engine)
    if cls is None or not dataclasses.is_dataclass(cls):
        return {}
    default = cls()
    return {f.name: OptionField(f.name, getattr(default, f.name)) for f in dataclasses.fields(cls)
            if f.init and f.name not in _HARDWARE_KEYS}


def option_names_of_any_engine() -> set[str]:
    """Every option name of every registered engine (what a spec file's top level may hold)."""
    from ..engines import engine_names

    return {name for engine in engine_names() for name in option_fields(engine)}


def takers(name: str) -> list[str]:
    """The registered engines that take option ``name``."""
    from ..engines import engine_names

    return [e for e in engine_names() if name in option_fields(e)]


def check_option_name(engine: str, name: str) -> OptionField:
    """The field ``name`` of ``engine``'s options; a one-line :class:`InputError` when it has none."""
    fields = option_fields(engine)
    if name in fields:
        return fields[name]
    others = takers(name)
    if others:
        where = f"an option of {' and '.join(others)}"
        raise InputError(f"engine {engine!r} takes no option {name!r} ({where}; set engine accordingly)")
    known = ", ".join(fields) if fields else "none"
    raise InputError(f"unknown option {name!r} for engine {engine!r} (its options: {known})")


def parse_option(engine: str, name: str, value: Any) -> Any:
    """``value`` for option ``name`` of ``engine``, normalised and checked by the engine's options type."""
    from ..engines import options_type

    field = check_option_name(engine, name)
    default = field.default
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InputError(f"{name} must be true or false, got {value!r}")
    elif isinstance(default, int) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{name} must be an integer, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"{name} must be a finite number, got {value!r}")
        value = float(value)
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise InputError(f"{name} must be a string, got {value!r}")
    elif dataclasses.is_dataclass(default):
        value = _record(name, type(default), value)
    elif default is not None and not isinstance(value, type(default)):
        raise InputError(f"{name} must be a {type(default).__name__}, got {value!r}")
    try:
        options_type(engine)(**{name: value})  # the engine's own checks, with its own messages
    except InputError:
        raise
    except (TypeError, ValueError) as e:
        raise InputError(f"{name}: {e}") from None
    return value


def _record(name: str, cls: type, value: Any) -> Any:
    """A record-valued option from an instance, a mapping of its fields or (when the class parses) text."""
    if isinstance(value, cls):
        return value
    if isinstance(value, str) and callable(getattr(cls, "parse", None)):
        return cls.parse(value)
    if isinstance(value, Mapping):
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in value if k not in known]
        if unknown:
            raise InputError(f"{name}: unknown field(s) {', '.join(map(str, unknown))}; known: {', '.join(known)}")
        try:
            return cls(**value)
        except (TypeError, ValueError) as e:
            raise InputError(f"{name}: {e}") from None
    text = " or text" if callable(getattr(cls, "parse", None)) else ""
    raise InputError(f"{name} must be a {cls.__name__}, a table of its fields{text}, got {value!r}")


def make_options(engine: str, values: Mapping[str, Any]) -> Any:
    """The engine's options record with ``values`` set (None when ``values`` is empty: the engine's defaults)."""
    from ..engines import options_type

    if not values:
        return None
    return options_type(engine)(**values)


def _plain(value: Any) -> Any:
    """A JSON-ready form of an option value (records as their fields)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    return value


def options_key(engine: str, options: Any) -> dict[str, Any]:
    """The options of a point that differ from the engine's defaults, JSON-ready (the cache key's part:
    a point with default options has the key it had before options were sweepable)."""
    if options is None:
        return {}
    fields = option_fields(engine)
    return {name: _plain(getattr(options, name)) for name, f in fields.items()
            if getattr(options, name) != f.default}


def option_column(value: Any) -> Any:
    """A table cell for an option value: scalars as they are, records by their ``label()`` or fields."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    label = getattr(value, "label", None)
    if callable(label):
        return label()
    plain = _plain(value)
    if isinstance(plain, dict):
        return ",".join(f"{k}={v}" for k, v in plain.items())
    return json.dumps(plain, default=str)
