"""The hash chain of the audit log.

Each event's hash is ``sha256`` over the canonical JSON of its sequence number,
time, actor, kind, subject, data and the previous event's hash; the first
event chains to :data:`GENESIS`. Editing an event breaks its own hash; removing
one breaks the sequence and the next event's ``prev``; removing the newest
events is caught by comparing the head with one recorded elsewhere
(``audit verify --expect-head``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from trainmaster.errors import IntegrityError

GENESIS = "sha256:" + "0" * 64


def event_hash(seq: int, at: str, actor: str, kind: str, subject: str, data: str, prev: str) -> str:
    body = json.dumps([seq, at, actor, kind, subject, data, prev], separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    count: int
    head: str


def verify_chain(events: Iterable[tuple[Any, ...]], expect_head: str | None = None) -> ChainReport:
    """Walk the events in order; raise :class:`IntegrityError` at the first break."""
    prev = GENESIS
    count = 0
    for seq, at, actor, kind, subject, data, recorded_prev, recorded_hash in events:
        count += 1
        if seq != count:
            raise IntegrityError(f"audit log broken: event {count} is missing (next event is #{seq})")
        if recorded_prev != prev:
            raise IntegrityError(f"audit log broken at event #{seq}: it does not chain to the event before it")
        if event_hash(seq, at, actor, kind, subject, data, recorded_prev) != recorded_hash:
            raise IntegrityError(f"audit log broken at event #{seq} ({kind}): the event was edited")
        prev = recorded_hash
    if expect_head is not None and expect_head != prev:
        raise IntegrityError(
            f"audit log head is {prev} ({count} events) but {expect_head} was expected: "
            "events were removed from the end, or this is another ledger"
        )
    return ChainReport(count, prev)
