"""Remote anchors of the audit chain (issue 10, item 3), checked against a real SQLite ledger.

``trainmaster.anchors.check`` is what ``audit verify --against`` runs on the texts a remote ledger
returns: remote data, so every malformed text is refused (exit 4) before use; an anchor beyond the
local head means events were removed; another ledger's anchor only counts when this ledger is the
train's record. The adapters' end-to-end tests (tests/github/test_anchors.py) drive the CLI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trainmaster.anchors import Anchor, check, head, ledger_id, parse
from trainmaster.audit import append_event
from trainmaster.errors import IntegrityError
from trainmaster.ledger import SqliteLedger


@pytest.fixture
def ledger(tmp_path: Path) -> SqliteLedger:
    led = SqliteLedger(tmp_path / "ledger.db")
    with led.transaction() as conn:
        for n in range(5):
            append_event(conn, "note", "tester", "dev", {"n": n})
    return led


def anchor_at(ledger: SqliteLedger, seq: int) -> str:
    (digest,) = ledger.conn.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
    return Anchor(str(ledger_id(ledger.conn)), seq, digest).text()


def test_the_head_is_an_anchor_of_this_ledger_and_checks(ledger: SqliteLedger) -> None:
    text = head(ledger.conn)
    count = ledger.conn.execute("SELECT MAX(seq) FROM audit").fetchone()[0]
    assert text == anchor_at(ledger, count)
    report = check(ledger.conn, "github", [("deployment 1", anchor_at(ledger, 2)), ("deployment 2", text)],
                   record=True)
    assert (report.checked, report.newest, report.others) == (2, count, {})


def test_an_anchor_beyond_the_local_head_means_events_were_removed(ledger: SqliteLedger) -> None:
    count = ledger.conn.execute("SELECT MAX(seq) FROM audit").fetchone()[0]
    beyond = Anchor(str(ledger_id(ledger.conn)), count + 3, "sha256:" + "a" * 64).text()
    with pytest.raises(IntegrityError, match=rf"names event #{count + 3}, but the local audit log ends at #{count}"):
        check(ledger.conn, "github", [("deployment 9", beyond)], record=False)


def test_the_first_mismatch_is_named(ledger: SqliteLedger) -> None:
    wrong = [("deployment 4", Anchor(str(ledger_id(ledger.conn)), 4, "sha256:" + "b" * 64).text()),
             ("deployment 3", Anchor(str(ledger_id(ledger.conn)), 3, "hmac-sha256:" + "c" * 64).text())]
    with pytest.raises(IntegrityError, match=r"audit event #3 is sha256:.* in the anchor of deployment 3 on github"):
        check(ledger.conn, "github", wrong, record=False)


def test_another_ledgers_anchor_is_counted_or_refused_when_this_ledger_is_the_record(ledger: SqliteLedger) -> None:
    other = ("deployment 7", Anchor("0123456789abcdef", 2, "sha256:" + "d" * 64).text())
    report = check(ledger.conn, "github", [other], record=False)
    assert report.checked == 0 and report.others == {"0123456789abcdef": 1}
    with pytest.raises(IntegrityError, match="names ledger 0123456789abcdef, but this ledger is"):
        check(ledger.conn, "github", [other], record=True)


GOOD = "trainmaster-audit v1 ledger=0123456789abcdef seq=12 hash=sha256:" + "e" * 64


@pytest.mark.parametrize("text", [
    "trainmaster-audit v1 ledger=../../etc seq=1 hash=sha256:" + "e" * 64,
    "trainmaster-audit v1 ledger=0123456789abcdef seq=0 hash=sha256:" + "e" * 64,
    "trainmaster-audit v1 ledger=0123456789abcdef seq=1e9 hash=sha256:" + "e" * 64,
    "trainmaster-audit v1 ledger=0123456789abcdef seq=99999999999999999999 hash=sha256:" + "e" * 64,
    "trainmaster-audit v1 ledger=0123456789abcdef seq=12 hash=md5:" + "e" * 32,
    GOOD + "f",  # a longer hash
    GOOD.replace("e" * 64, "E" * 64),
    GOOD + "\n" + "trainmaster-audit v2 whatever",  # a second mention that is not an anchor
    GOOD + " " * 70000,
    ["not", "a", "text"],
    {"seq": 12},
    12,
], ids=["path", "seq-0", "seq-float", "seq-huge", "md5", "long-hash", "upper-hex", "second-mention", "too-long",
        "list", "object", "number"])
def test_a_malformed_remote_anchor_is_refused(text: object) -> None:
    with pytest.raises(IntegrityError, match="the audit anchor of deployment 5 is malformed"):
        parse("deployment 5", text)


def test_text_around_an_anchor_and_no_anchor_at_all_are_fine() -> None:
    assert parse("release notes", f"deployed by ci\n{GOOD}\nthanks") == [
        Anchor("0123456789abcdef", 12, "sha256:" + "e" * 64, "release notes")]
    assert parse("release notes", "no anchor here") == [] and parse("x", None) == [] and parse("x", "") == []


def test_a_keyed_chain_anchors_its_hmac_and_checks_it(tmp_path: Path) -> None:
    keyed = SqliteLedger(tmp_path / "keyed.db", key=b"audit-key-0123456789")
    with keyed.transaction() as conn:
        keyed._audit(conn, "note", "tester", "dev", {"n": 1})  # a new ledger is keyed from its first event
        keyed._audit(conn, "note", "tester", "dev", {"n": 2})
    text = head(keyed.conn)
    assert " hash=hmac-sha256:" in text
    assert check(keyed.conn, "github", [("deployment 1", text)], record=True).checked == 1
