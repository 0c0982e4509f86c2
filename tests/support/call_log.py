"""Checks on a fake's call log (issue 11): within one command, no read is sent twice unless it is a poll.

A read (``GET``/``HEAD``) repeated with no write in between asks for something that cannot have
changed through this command: it should have been kept. After a write (``POST``/``PATCH``/``PUT``/
``DELETE``) the same read may legitimately be sent again (the write changed what it returns, or its
answer was lost and the client looks before retrying). A failed attempt that the client retried
(no answer, 429, 5xx) does not count as a first read. Used by the end-to-end tests and by the
call-budget benchmarks (bench/_calls.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

READS = ("GET", "HEAD")


def _get(call: Any, name: str) -> Any:
    return call.get(name) if isinstance(call, dict) else getattr(call, name)


def call_key(call: Any) -> str:
    """``METHOD /path?sorted-query`` — two calls with the same key ask for the same thing."""
    query = "&".join(f"{k}={v}" for k, v in sorted((_get(call, "query") or {}).items()))
    return f"{_get(call, 'method')} {_get(call, 'path')}" + (f"?{query}" if query else "")


def _retried(call: Any) -> bool:
    status = _get(call, "status")
    return bool(_get(call, "fault")) or status is None or status == 429 or status >= 500


def repeated_reads(calls: Iterable[Any], is_poll: Callable[[Any], bool] = lambda c: False) -> dict[str, int]:
    """Reads sent again with no write in between: ``{call_key: extra times}`` (empty when none).

    ``calls`` are one command's requests (``fake.calls`` entries or their JSON form).
    """
    seen: set[str] = set()
    repeated: dict[str, int] = {}
    for call in calls:
        if _get(call, "method") not in READS:
            seen.clear()
            continue
        if is_poll(call) or _retried(call):
            continue
        key = call_key(call)
        if key in seen:
            repeated[key] = repeated.get(key, 0) + 1
        seen.add(key)
    return repeated


def assert_no_repeated_reads(calls: Iterable[Any], what: str = "the command",
                             is_poll: Callable[[Any], bool] = lambda c: False) -> None:
    """Fail naming each read that ``what`` sent twice without a write in between."""
    calls = list(calls)
    repeated = repeated_reads(calls, is_poll)
    assert not repeated, (f"{what} read the same thing again without a write in between: {repeated}; "
                          f"its calls: {[call_key(c) for c in calls]}")
