"""The hash chain of the audit log, and the binding of every ledger row to it.

Each event's hash is ``sha256`` over the canonical JSON of its sequence number,
time, actor, kind, subject, data and the previous event's hash; the first
event chains to :data:`GENESIS`. Editing an event breaks its own hash; removing
one breaks the sequence and the next event's ``prev``; removing the newest
events is caught by comparing the head with one recorded elsewhere
(``audit verify --expect-head``).

Rows are bound to the chain: every row of ``releases``, ``deployments``,
``approvals``, ``publications`` and ``rollout_steps`` carries :func:`row_hash` of its content in
its ``row_hash`` column, and each change of a row appends an event whose data
holds ``{"row": {"table", "key", "hash"}}`` (the event's ``tbl`` and
``row_key`` columns repeat table and key for an indexed lookup). A row is
intact when its content hashes to its column and to the ``row`` of its latest
event (:func:`check_row`, one indexed lookup: the reads behind every decision
call it); ``audit verify`` checks every row (:func:`verify_rows`).

With ``audit: {key: …}`` in the config, events from the ``audit_keyed`` marker
on are HMAC-SHA256 with that key (``hmac-sha256:…``), so rewriting the chain
needs the key. The marker's sequence number is also kept in ``audit_meta``
(``keyed_from``) for the cheap per-row check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from trainmaster.errors import IntegrityError

GENESIS = "sha256:" + "0" * 64
KEYED_KIND = "audit_keyed"
NOT_KEYED = ("an audit key is configured but the audit log is not keyed: if you just added the key, run "
             "`trainmaster audit key` once; otherwise the log was rewritten without the key")
NO_KEY = ("the audit log is keyed from event #{seq} but no audit key is configured "
          "(audit: {{key: {{secret: env:NAME}}}} in the config)")

# table -> (columns in hash order, key columns)
BOUND_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "releases": (("id", "project", "version", "created_at", "created_by", "record"), ("id",)),
    "deployments": (("id", "release_id", "version", "environment", "kind", "status", "actor", "started_at",
                     "finished_at", "packages", "state", "remote", "excerpt", "log", "gates", "reason"), ("id",)),
    "approvals": (("id", "release_id", "environment", "actor", "at", "comment", "counts"), ("id",)),
    "publications": (("release_id", "system", "state", "url", "remote", "at"), ("release_id", "system")),
    "approval_events": (("id", "release_id", "environment", "actor", "kind", "at", "comment", "after_approval"),
                        ("id",)),
    "release_tombstones": (("release_id", "at", "actor", "reason"), ("release_id",)),
    # the release duties (migration 6, trainmaster.duty_records)
    "runbook_runs": (("id", "runbook", "release_id", "version", "environment", "deployment_id", "actor",
                      "started_at", "finished_at", "status", "excerpt"), ("id",)),
    "runbook_approvals": (("id", "runbook", "release_id", "environment", "actor", "at", "comment", "counts"),
                          ("id",)),
    "gate_samples": (("id", "release_id", "version", "environment", "actor", "at", "passed", "results"), ("id",)),
    "signoffs": (("id", "release_id", "version", "environment", "actor", "at", "comment", "counts", "revoked_at",
                  "revoked_by"), ("id",)),
    "verifications": (("id", "deployment_id", "release_id", "version", "environment", "at", "passed", "metrics",
                       "results"), ("id",)),
    "rollout_steps": (("id", "deployment_id", "environment", "strategy", "action", "instance", "slot", "batch",
                       "weight", "release_id", "version", "state", "status", "started_at", "finished_at"), ("id",)),
}


def event_hash(seq: int, at: str, actor: str, kind: str, subject: str, data: str, prev: str,
               key: bytes | None = None) -> str:
    """``sha256:…`` of the event, or ``hmac-sha256:…`` with ``key``."""
    body = json.dumps([seq, at, actor, kind, subject, data, prev], separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")
    if key is not None:
        return "hmac-sha256:" + hmac.new(key, body, hashlib.sha256).hexdigest()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _rehash(event: tuple[Any, ...], key: bytes | None) -> str:
    """The hash an event row ``(seq, at, actor, kind, subject, data, prev, hash)`` should carry."""
    seq, at, actor, kind, subject, data, prev = event[:7]
    return event_hash(seq, at, actor, kind, subject, data, prev, key)


def row_key(table: str, row: dict[str, Any]) -> Any:
    """The key of a row: its id, or ``release_id/system`` for a publication."""
    keys = BOUND_TABLES[table][1]
    return row[keys[0]] if len(keys) == 1 else "/".join(str(row[k]) for k in keys)


def row_hash(table: str, row: dict[str, Any]) -> str:
    """``sha256`` over the canonical JSON of the table name and every bound column of ``row``."""
    columns = BOUND_TABLES[table][0]
    body = json.dumps({"table": table, "row": {c: row[c] for c in columns}}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(body.encode("utf-8")).hexdigest()


def describe(table: str, key: Any) -> str:
    return f"{table} #{key}" if isinstance(key, int) else f"{table} {key}"


def select_sql(table: str, where: str = "") -> str:
    """``SELECT`` of every bound column plus ``row_hash`` (the shape :func:`check_row` takes)."""
    return f"SELECT {', '.join(BOUND_TABLES[table][0])}, row_hash FROM {table} {where}"


def as_row(table: str, values: Iterable[Any]) -> tuple[dict[str, Any], str | None]:
    """A row selected with :func:`select_sql` as a dict, and its recorded ``row_hash``."""
    *content, recorded = tuple(values)
    return dict(zip(BOUND_TABLES[table][0], content, strict=True)), recorded


# -- writing -------------------------------------------------------------------------------


def append_event(conn: sqlite3.Connection, kind: str, actor: str, subject: str, data: dict[str, Any],
                 key: bytes | None = None, bound: tuple[str, Any] | None = None) -> int:
    """Append one event (inside the caller's transaction); returns its sequence number."""
    from trainmaster.ledger import check_clock, now

    last = conn.execute("SELECT seq, hash, at FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = now()
    if last:
        check_clock(last[2], at)  # an event earlier than the last one: the clock went back
    body = json.dumps(data, sort_keys=True, separators=(",", ":"))
    digest = event_hash(seq, at, actor, kind, subject, body, prev, key)
    conn.execute(
        "INSERT INTO audit (seq, at, actor, kind, subject, data, prev, hash, tbl, row_key) "
        "VALUES (?,?,?,?,?,?,?,?,?,?)",
        (seq, at, actor, kind, subject, body, prev, digest, *(bound or (None, None))),
    )
    return int(seq)


def bind_row(conn: sqlite3.Connection, table: str, key: Any) -> dict[str, Any]:
    """Store the row's hash in its ``row_hash`` column; returns the ``row`` entry for its event."""
    keys = BOUND_TABLES[table][1]
    where = " AND ".join(f"{k} = ?" for k in keys)
    args = (key,) if len(keys) == 1 else tuple(str(key).split("/", 1))
    found = conn.execute(select_sql(table, f"WHERE {where}"), args).fetchone()
    row, _ = as_row(table, found)
    digest = row_hash(table, row)
    conn.execute(f"UPDATE {table} SET row_hash = ? WHERE {where}", (digest, *args))
    return {"table": table, "key": key, "hash": digest}


def _env_subject(row: dict[str, Any]) -> str:
    return str(row["environment"])


SUBJECTS = {"releases": lambda r: f"{r['project']}@{r['version']}", "deployments": lambda r: r["environment"],
            "approvals": lambda r: r["environment"], "publications": lambda r: r["system"],
            "approval_events": lambda r: r["environment"], "release_tombstones": lambda r: r["release_id"],
            "rollout_steps": lambda r: r["environment"]}


def bind_existing(conn: sqlite3.Connection, tables: Iterable[str] = ()) -> int:
    """Hash every row of ``tables`` (default all) and append one ``row_bound`` event per row
    (the migration of older ledgers)."""
    count = 0
    existing = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table in [t for t in (tables or BOUND_TABLES) if t in existing]:  # later migrations create others
        for values in conn.execute(select_sql(table, "ORDER BY rowid")).fetchall():
            row, _ = as_row(table, values)
            key = row_key(table, row)
            bound = bind_row(conn, table, key)
            append_event(conn, "row_bound", "trainmaster", SUBJECTS.get(table, _env_subject)(row), {"row": bound},
                         bound=(table, key))
            count += 1
    return count


# -- checking ------------------------------------------------------------------------------


@dataclass
class Keying:
    """How the chain is keyed: the configured key, and the first keyed event (None: not keyed yet)."""

    key: bytes | None
    keyed_from: int | None = None
    checked: bool = False

    def key_for(self, seq: int) -> bytes | None:
        return self.key if self.keyed_from is not None and seq >= self.keyed_from else None

    def load(self, conn: sqlite3.Connection) -> int | None:
        row = conn.execute("SELECT value FROM audit_meta WHERE name = 'keyed_from'").fetchone()
        self.keyed_from = int(row[0]) if row else None
        return self.keyed_from

    def check(self, conn: sqlite3.Connection) -> None:
        """Once per ledger: the key and the chain agree, and the key marker is genuine."""
        if self.checked:
            return
        if self.load(conn) is None:
            if self.key is None:
                self.checked = True
            elif conn.execute("SELECT 1 FROM audit LIMIT 1").fetchone():
                raise IntegrityError(NOT_KEYED)
            return  # with a key, an empty chain is keyed by its first event
        if self.key is None:
            raise IntegrityError(NO_KEY.format(seq=self.keyed_from))
        event = conn.execute("SELECT seq, at, actor, kind, subject, data, prev, hash FROM audit WHERE seq = ?",
                             (self.keyed_from,)).fetchone()
        if (event is None or event[3] != KEYED_KIND or json.loads(event[5]).get("keyed_from") != event[0]
                or _rehash(event, self.key) != event[7]):
            raise IntegrityError(f"audit log broken: the key marker at event #{self.keyed_from} is missing "
                                 "or does not verify with the configured audit key")
        self.checked = True


def check_row(conn: sqlite3.Connection, keying: Keying, table: str, values: Iterable[Any]) -> dict[str, Any]:
    """Raise :class:`IntegrityError` unless the row matches its hash and its latest audit event."""
    row, recorded = as_row(table, values)
    key = row_key(table, row)
    digest = row_hash(table, row)
    what = f"ledger row {describe(table, key)}"
    if recorded != digest:
        raise IntegrityError(f"{what} was edited outside trainmaster: its content does not match its hash")
    event = conn.execute(
        "SELECT seq, at, actor, kind, subject, data, prev, hash FROM audit WHERE tbl = ? AND row_key = ? "
        "ORDER BY seq DESC LIMIT 1", (table, key)).fetchone()
    if event is None:
        raise IntegrityError(f"{what} has no audit event: it was inserted outside trainmaster")
    if json.loads(event[5]).get("row") != {"table": table, "key": key, "hash": digest}:
        raise IntegrityError(f"{what} does not match its latest audit event #{event[0]}: edited outside trainmaster")
    keying.check(conn)
    if _rehash(event, keying.key_for(event[0])) != event[7]:
        raise IntegrityError(f"audit event #{event[0]} of {what} was edited or forged"
                             f"{' (it does not verify with the audit key)' if keying.key_for(event[0]) else ''}")
    return row


@dataclass(frozen=True)
class ChainReport:
    count: int
    head: str
    keyed_from: int | None = None
    rows: int = 0


def verify_chain(events: Iterable[tuple[Any, ...]], expect_head: str | None = None,
                 keying: Keying | None = None, bindings: dict[tuple[str, Any], str] | None = None) -> ChainReport:
    """Walk the events in order; raise :class:`IntegrityError` at the first break.

    Events may carry ``tbl`` and ``row_key`` as 9th and 10th fields; then they must
    match the event's ``row`` and ``bindings`` collects each row's latest hash.
    """
    keying = keying or Keying(None, None)
    prev = GENESIS
    count = 0
    marker: int | None = None
    for seq, at, actor, kind, subject, data, recorded_prev, recorded_hash, *columns in events:
        count += 1
        if seq != count:
            raise IntegrityError(f"audit log broken: event {count} is missing (next event is #{seq})")
        if recorded_prev != prev:
            raise IntegrityError(f"audit log broken at event #{seq}: it does not chain to the event before it")
        if kind == KEYED_KIND and marker is None:
            if json.loads(data).get("keyed_from") != seq:
                raise IntegrityError(f"audit log broken at event #{seq}: the key marker names another event")
            marker = seq
        key = keying.key if marker is not None else None
        if event_hash(seq, at, actor, kind, subject, data, recorded_prev, key) != recorded_hash:
            detail = " or forged without the audit key" if key is not None else ""
            raise IntegrityError(f"audit log broken at event #{seq} ({kind}): the event was edited{detail}")
        if columns and bindings is not None:
            bound = json.loads(data).get("row")
            if tuple(columns) != ((bound["table"], bound["key"]) if bound else (None, None)):
                raise IntegrityError(f"audit log broken at event #{seq}: its row columns do not match its data")
            if bound:
                bindings[(bound["table"], bound["key"])] = bound["hash"]
        prev = recorded_hash
    if marker != keying.keyed_from:
        raise IntegrityError(f"audit log broken: the key marker is at event #{marker} but the ledger records "
                             f"#{keying.keyed_from} as the first keyed event")
    if keying.key is not None and marker is None and count:
        raise IntegrityError(NOT_KEYED)
    if marker is not None and keying.key is None:
        raise IntegrityError(NO_KEY.format(seq=marker))
    if expect_head is not None and expect_head != prev:
        raise IntegrityError(
            f"audit log head is {prev} ({count} events) but {expect_head} was expected: "
            "events were removed from the end, or this is another ledger"
        )
    return ChainReport(count, prev, marker)


def verify_rows(conn: sqlite3.Connection, bindings: dict[tuple[str, Any], str], limit: int = 5) -> int:
    """Every row against its latest event: edited, inserted and removed rows; returns the row count."""
    problems: list[str] = []
    seen = 0
    for table in BOUND_TABLES:
        for values in conn.execute(select_sql(table, "ORDER BY rowid")):
            seen += 1
            row, recorded = as_row(table, values)
            key = row_key(table, row)
            digest = row_hash(table, row)
            bound = bindings.pop((table, key), None)
            if bound is None:
                problems.append(f"{describe(table, key)} has no audit event (inserted outside trainmaster)")
            elif digest != bound or recorded != digest:
                problems.append(f"{describe(table, key)} differs from its audit event (edited outside trainmaster)")
    for table, key in bindings:
        problems.append(f"{describe(table, key)} has an audit event but no row (removed outside trainmaster)")
    if problems:
        more = f" (and {len(problems) - limit} more)" if len(problems) > limit else ""
        raise IntegrityError(f"ledger rows do not match the audit log: {'; '.join(problems[:limit])}{more}")
    return seen
