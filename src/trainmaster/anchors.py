"""Remote anchors of the audit chain: the remote system keeps the local chain's head (issue 10, item 3).

When a deployment starts, its first ledger event (``deployment_started``) is appended; the
chain's head right after it is handed to the target as ``DeployJob.audit_anchor``, one line::

    trainmaster-audit v1 ledger=<16 hex> seq=<n> hash=<sha256:… | hmac-sha256:…>

A remote target records it with the deployment it creates there (the GitHub deployment's
payload, the classic release's properties on Azure DevOps, a line of the Octopus release's
notes). ``ledger`` names the chain: the first 16 hex digits of its first event's hash, so anchors
written by another runner's ledger are told apart from this one's.

``audit verify --against SYSTEM`` reads them back through the optional
``RemoteLedger.anchors(environments)`` (raw ``(where, text)`` pairs: remote data, parsed here with
a strict pattern before use, see :func:`parse`) and checks each anchor of this ledger: the local
chain must hold event ``seq`` with exactly that hash. A chain rewritten after an anchor fails at
the anchor (exit 4 naming the first, the oldest mismatch); an anchor beyond the local head means
events were removed (exit 4). As the chain is intact (checked first), one matching anchor vouches
for every event up to it. Anchors of other ledgers are counted and not checked, unless this
ledger is the train's record (``ledger: sqlite``, the default): then every deployment there was
made from this ledger, and another ledger's anchor means it was rewritten from its first event
(or another ledger deploys the same environments) — exit 4 too.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

from trainmaster.errors import IntegrityError

MARK = "trainmaster-audit"
PATTERN = re.compile(r"trainmaster-audit v1 ledger=([0-9a-f]{16}) seq=([1-9][0-9]{0,17}) "
                     r"hash=((?:sha256|hmac-sha256):[0-9a-f]{64})(?![0-9A-Za-z])")
MAX_TEXT = 65536
"""The most characters of one remote text looked at (a longer one is refused, not scanned)."""
MAX_PER_TEXT = 16


@dataclass(frozen=True)
class Anchor:
    ledger: str
    seq: int
    hash: str
    where: str = ""

    def text(self) -> str:
        return f"{MARK} v1 ledger={self.ledger} seq={self.seq} hash={self.hash}"


def ledger_id(conn: sqlite3.Connection) -> str | None:
    """The chain's name: the first 16 hex digits of its first event's hash (None for an empty chain)."""
    row = conn.execute("SELECT hash FROM audit WHERE seq = 1").fetchone()
    return str(row[0]).rsplit(":", 1)[-1][:16] if row else None


def head(conn: sqlite3.Connection) -> str:
    """The anchor text of the chain's current head ("" for an empty chain)."""
    name = ledger_id(conn)
    row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return Anchor(name, int(row[0]), str(row[1])).text() if name and row else ""


def parse(where: str, text: object) -> list[Anchor]:
    """The anchors in one remote text; exit 4 when it mentions the mark but holds no valid anchor.

    ``text`` is data read from a remote system: anything but a string, a text longer than
    :data:`MAX_TEXT`, or a mention of the mark that does not match :data:`PATTERN` exactly is refused.
    """
    if text is None or text == "":
        return []
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise IntegrityError(f"the audit anchor of {where} is malformed (not a text of at most {MAX_TEXT} "
                             "characters): it was not written by trainmaster")
    found = [Anchor(m.group(1), int(m.group(2)), m.group(3), where) for m in PATTERN.finditer(text)]
    if (MARK in text and not found) or text.count(MARK) != len(found) or len(found) > MAX_PER_TEXT:
        raise IntegrityError(f"the audit anchor of {where} is malformed: it does not read "
                             f"`{MARK} v1 ledger=<16 hex> seq=<n> hash=<sha256:64 hex>`")
    return found


@dataclass
class AnchorReport:
    system: str
    ledger: str | None
    checked: int = 0
    newest: int = 0
    others: dict[str, int] = field(default_factory=dict)  # ledger -> anchors

    def to_json(self) -> dict[str, object]:
        return {"system": self.system, "ledger": self.ledger, "checked": self.checked, "newest": self.newest,
                "other_ledgers": dict(self.others)}

    def line(self) -> str:
        text = f"{self.checked} anchor(s) on {self.system} match this ledger ({self.ledger})"
        if self.checked:
            text += f", the newest at event #{self.newest}"
        if self.others:
            text += (f"; {sum(self.others.values())} from other ledgers not checked "
                     f"({', '.join(sorted(self.others))})")
        return text


def check(conn: sqlite3.Connection, system: str, texts: Iterable[tuple[str, object]], *,
          record: bool) -> AnchorReport:
    """Every anchor of ``texts`` against the local chain (see the module docstring); exit 4 on a mismatch.

    ``record``: this ledger is the train's record, so an anchor of another ledger is a mismatch too.
    """
    mine = ledger_id(conn)
    report = AnchorReport(system, mine)
    anchors: list[Anchor] = []
    for where, text in texts:
        for anchor in parse(where, text):
            if anchor.ledger == mine:
                anchors.append(anchor)
            else:
                report.others[anchor.ledger] = report.others.get(anchor.ledger, 0) + 1
                if record:
                    raise IntegrityError(
                        f"the audit anchor of {where} on {system} names ledger {anchor.ledger}, but this ledger is "
                        f"{mine or 'empty'}: the local audit log was rewritten from its first event, or another "
                        "ledger deploys these environments")
    count = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM audit").fetchone()[0]
    for anchor in sorted(anchors, key=lambda a: a.seq):
        row = conn.execute("SELECT hash FROM audit WHERE seq = ?", (anchor.seq,)).fetchone()
        if row is None:
            raise IntegrityError(
                f"the audit anchor of {anchor.where} on {system} names event #{anchor.seq}, but the local audit log "
                f"ends at #{count}: events were removed from the end")
        if row[0] != anchor.hash:
            raise IntegrityError(
                f"audit event #{anchor.seq} is {row[0]} locally but {anchor.hash} in the anchor of {anchor.where} on "
                f"{system}: the local audit log was rewritten after that anchor")
        report.checked += 1
        report.newest = anchor.seq
    return report
