"""Small value parsers shared by the loader and the CLI (no YAML, no I/O)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_DURATION = 366 * 86400.0
"""The longest duration accepted (a year): longer ones are mistakes, and overflow date arithmetic."""
DURATION_EXPECTED = "a duration: a number of seconds or a string such as 90s, 30m, 2h, 1d or 1h30m"

_DAY_NAMES: dict[str, int] = {}
for _index, _names in enumerate(
    (
        ("mon", "monday"),
        ("tue", "tues", "tuesday"),
        ("wed", "wednesday"),
        ("thu", "thur", "thurs", "thursday"),
        ("fri", "friday"),
        ("sat", "saturday"),
        ("sun", "sunday"),
    )
):
    for _name in _names:
        _DAY_NAMES[_name] = _index

_HOURS = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)-(?:([01]?\d|2[0-3]):([0-5]\d)|(24):(00))$")

SECRET_NAME_WORDS = (
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
)


def parse_duration(text: object) -> float:
    """Parse a duration into seconds.

    Accepts a non-negative number of seconds (``90``, ``1.5``, or the same as a
    string) or units ``s``, ``m``, ``h``, ``d`` in one string (``90s``, ``30m``,
    ``1h30m``).

    :raises ValueError: with the expected form, for anything else.
    """
    if isinstance(text, bool):
        raise ValueError(f"expected {DURATION_EXPECTED}")
    if isinstance(text, int | float):
        seconds = float(text)
    elif isinstance(text, str):
        value = text.strip()
        try:
            seconds = float(value) if re.fullmatch(r"\d+(?:\.\d+)?", value) else _sum_units(value)
        except ValueError:
            raise ValueError(f"expected {DURATION_EXPECTED}, got {text!r}") from None
    else:
        raise ValueError(f"expected {DURATION_EXPECTED}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected {DURATION_EXPECTED}; it must be finite and not negative")
    if seconds > MAX_DURATION:
        raise ValueError(f"expected {DURATION_EXPECTED}; it must be at most 366d")
    return seconds


ENV_NUMBERS: dict[str, tuple[float, float, float]] = {
    "TRAINMASTER_LOCK_TIMEOUT": (3600.0, 0.0, MAX_DURATION),
    "TRAINMASTER_LEDGER_TIMEOUT": (120.0, 0.0, MAX_DURATION),
}
"""Numeric ``TRAINMASTER_*`` variables: name to (default, lowest, highest)."""


def env_number(environ: Mapping[str, str], name: str) -> float:
    """The numeric variable ``name`` (see :data:`ENV_NUMBERS`) from ``environ``, else its default.

    :raises InvalidInput: naming the variable, for a value that is not a finite number in range.
    """
    from trainmaster.errors import InvalidInput

    default, low, high = ENV_NUMBERS[name]
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidInput(f"{name}={raw[:40]!r} is not a number of seconds from {low:g} to {high:g}")
    return value


def check_env_numbers(environ: Mapping[str, str]) -> None:
    """Exit 2 at start-up, naming the variable, when a numeric ``TRAINMASTER_*`` variable is invalid."""
    for name in ENV_NUMBERS:
        env_number(environ, name)


def _sum_units(value: str) -> float:
    if not value:
        raise ValueError(value)
    total = 0.0
    pos = 0
    for match in _DURATION_PART.finditer(value):
        if match.start() != pos:
            raise ValueError(value)
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(value):
        raise ValueError(value)
    return total


def package_env_name(name: str) -> str:
    """The ``TRAINMASTER_PACKAGE_<NAME>`` variable for package ``name``.

    ``NAME`` is ``name`` upper-cased with every character other than an ASCII
    letter or digit turned into ``_``: ``my-app.v2`` gives
    ``TRAINMASTER_PACKAGE_MY_APP_V2``.
    """
    return "TRAINMASTER_PACKAGE_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def parse_weekday(text: str) -> int:
    """``mon`` … ``sun`` (or full names, any case) to 0 (Monday) … 6.

    :raises ValueError: for anything else.
    """
    try:
        return _DAY_NAMES[text.strip().lower()]
    except KeyError:
        raise ValueError(f"expected a weekday (mon, tue, wed, thu, fri, sat, sun), got {text!r}") from None


def parse_days(value: str | list[str]) -> tuple[int, ...]:
    """A weekday or a range such as ``mon-fri`` (``fri-mon`` wraps round), or a list of them."""
    if isinstance(value, list):
        return tuple(sorted({day for item in value for day in parse_days(item)}))
    first, _, last = value.partition("-")
    start = parse_weekday(first)
    if not last:
        return (start,)
    end = parse_weekday(last)
    span = (end - start) % 7
    return tuple(sorted({(start + offset) % 7 for offset in range(span + 1)}))


def parse_hours(text: str) -> tuple[int, int]:
    """``HH:MM-HH:MM`` to minutes of day ``[start, end)``; the end may be ``24:00``.

    :raises ValueError: for another form, or an end not after the start.
    """
    match = _HOURS.match(text.strip())
    if not match:
        raise ValueError("expected hours as HH:MM-HH:MM, such as 09:00-17:00 (the end may be 24:00)")
    start = int(match.group(1)) * 60 + int(match.group(2))
    end = 24 * 60 if match.group(5) else int(match.group(3)) * 60 + int(match.group(4))
    if end <= start:
        raise ValueError(f"the end of hours {text!r} must be after its start")
    return start, end


def looks_like_secret(name: str) -> bool:
    """Whether a variable name suggests a secret (``DB_PASSWORD``, ``api_token`` …)."""
    upper = name.upper()
    return any(word in upper for word in SECRET_NAME_WORDS)
