"""The audit chain's hashes are a stored format, and ``audit verify`` checks every part of a row's binding."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from trainmaster.audit import GENESIS, Keying, event_hash, row_hash, verify_chain, verify_rows
from trainmaster.errors import IntegrityError
from trainmaster.ledger import SqliteLedger
from trainmaster.model import Package, Release


def test_event_and_row_hashes_are_those_existing_ledgers_hold() -> None:
    """A ledger written by an earlier trainmaster must still verify: the hash formulas never change."""
    assert event_hash(1, "2025-06-02T12:00:00.000Z", "bob", "release_created", "demo@1.0.0", '{"a":1}', GENESIS) == (
        "sha256:c1d4e79cb89692e9f5f16b8364f4722c7220d9bf0532db1d158d1b5ba0cda38d")
    row = {"id": 1, "release_id": "r", "environment": "prod", "actor": "alice", "at": "t", "comment": "", "counts": 1}
    assert row_hash("approvals", row) == "sha256:cba511a61137416766a7dab409c26387db31a3c8cb7a79817b48c55112b3947b"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqliteLedger]:
    led = SqliteLedger(tmp_path / "ledger.db")
    release = Release("demo", "1.0.0", (Package("app", "app.bin", 1, "sha256:" + "a" * 64),), {"created_by": "bob"})
    led.insert_release(release, "bob")
    yield led
    led.close()


def _verify(ledger: SqliteLedger) -> int:
    bindings: dict[tuple[str, object], str] = {}
    verify_chain(ledger.audit_events(), None, Keying(None), bindings)
    return verify_rows(ledger.conn, bindings)


def test_a_row_whose_recorded_hash_alone_was_edited_fails_audit_verify(ledger: SqliteLedger) -> None:
    assert _verify(ledger) == 1
    conn = sqlite3.connect(ledger.path)
    with conn:
        conn.execute("UPDATE releases SET row_hash = ?", ("sha256:" + "f" * 64,))
    conn.close()
    with pytest.raises(IntegrityError, match="releases .* differs from its audit event"):
        _verify(ledger)


def _edit_audit(ledger: SqliteLedger, sql: str, *args: object) -> None:
    """What an attacker (or a broken clock) with plain sqlite3 does: the append-only trigger dropped and put back."""
    conn = sqlite3.connect(ledger.path)
    (trigger,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'audit_no_update'").fetchone()
    with conn:
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute(sql, args)
        conn.execute(trigger)
    conn.close()


def test_an_event_whose_row_columns_were_pointed_elsewhere_fails_audit_verify(ledger: SqliteLedger) -> None:
    _edit_audit(ledger, "UPDATE audit SET row_key = ? WHERE kind = 'release_created'", "sha256:" + "b" * 64)
    with pytest.raises(IntegrityError, match="its row columns do not match its data"):
        _verify(ledger)


def test_nothing_is_recorded_while_the_clock_is_behind_the_ledger(ledger: SqliteLedger) -> None:
    from trainmaster.errors import Unavailable

    _edit_audit(ledger, "UPDATE audit SET at = '2999-01-01T00:00:00.000Z' WHERE seq = 1")
    later = Release("demo", "1.1.0", (Package("app", "app.bin", 1, "sha256:" + "b" * 64),), {"created_by": "bob"})
    with pytest.raises(Unavailable, match="the clock went back"):
        ledger.insert_release(later, "bob")
    assert ledger.get_release("demo", "1.1.0") is None
    assert ledger.conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == 1


def test_a_release_record_whose_id_does_not_match_its_content_is_refused() -> None:
    release = Release("demo", "1.0.0", (Package("app", "app.bin", 1, "sha256:" + "a" * 64),))
    record = release.to_record()
    assert Release.from_record(record, "the remote").id == release.id
    forged = dict(record, id="sha256:" + "c" * 64)
    with pytest.raises(IntegrityError, match=f"the remote for demo 1.0.0 claims id sha256:c{{64}} but its content "
                                             f"hashes to {release.id}"):
        Release.from_record(forged, "the remote")


def test_a_key_marker_that_names_another_event_stops_every_read(tmp_path: Path) -> None:
    """Even re-signed with the key, a marker must name itself: its event is where the keyed chain starts."""
    key = b"audit-key-0123456789"
    keyed = SqliteLedger(tmp_path / "keyed.db", key=key)
    release = Release("demo", "1.0.0", (Package("app", "app.bin", 1, "sha256:" + "a" * 64),))
    keyed.insert_release(release, "bob")
    keyed.close()
    conn = sqlite3.connect(tmp_path / "keyed.db")
    (trigger,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'audit_no_update'").fetchone()
    with conn:
        conn.execute("DROP TRIGGER audit_no_update")
        prev = GENESIS
        for seq, at, actor, kind, subject, data in conn.execute(
                "SELECT seq, at, actor, kind, subject, data FROM audit ORDER BY seq").fetchall():
            data = '{"keyed_from":2}' if kind == "audit_keyed" else data
            digest = event_hash(seq, at, actor, kind, subject, data, prev, key)
            conn.execute("UPDATE audit SET data = ?, prev = ?, hash = ? WHERE seq = ?", (data, prev, digest, seq))
            prev = digest
        conn.execute(trigger)
    conn.close()
    again = SqliteLedger(tmp_path / "keyed.db", key=key)
    try:
        with pytest.raises(IntegrityError, match="the key marker at event #1 is missing or does not verify"):
            again.get_release("demo", "1.0.0")
    finally:
        again.close()


def test_the_ledgers_record_of_where_keying_starts_must_match_the_chain(tmp_path: Path) -> None:
    key = b"audit-key-0123456789"
    keyed = SqliteLedger(tmp_path / "keyed.db", key=key)
    keyed.insert_release(Release("demo", "1.0.0", (Package("app", "app.bin", 1, "sha256:" + "a" * 64),)), "bob")
    keyed.close()
    conn = sqlite3.connect(tmp_path / "keyed.db")
    with conn:
        conn.execute("DELETE FROM audit_meta WHERE name = 'keyed_from'")
    try:
        keying = Keying(key)
        keying.load(conn)
        with pytest.raises(IntegrityError, match="the key marker is at event #1 but the ledger records #None"):
            verify_chain(conn.execute("SELECT seq, at, actor, kind, subject, data, prev, hash FROM audit ORDER BY seq"),
                         None, keying)
    finally:
        conn.close()


def test_an_anchor_text_holds_at_most_sixteen_anchors() -> None:
    from trainmaster.anchors import MAX_PER_TEXT, Anchor, parse

    anchors = [Anchor("0123456789abcdef", n, "sha256:" + "a" * 64).text() for n in range(1, MAX_PER_TEXT + 2)]
    assert len(parse("notes", "\n".join(anchors[:MAX_PER_TEXT]))) == MAX_PER_TEXT
    with pytest.raises(IntegrityError, match="the audit anchor of notes is malformed"):
        parse("notes", "\n".join(anchors))


def test_the_chain_is_named_by_its_first_events_hash(ledger: SqliteLedger) -> None:
    from trainmaster.anchors import head, ledger_id

    first = ledger.conn.execute("SELECT hash FROM audit WHERE seq = 1").fetchone()[0]
    assert ledger_id(ledger.conn) == first.split(":")[1][:16]
    assert head(ledger.conn).startswith(f"trainmaster-audit v1 ledger={first.split(':')[1][:16]} seq=1 hash={first}")
