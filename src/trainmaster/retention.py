"""Retention: ``release delete`` and ``gc``.

A deleted release keeps its ledger row (its deployments and approvals refer to it) and
gets a *tombstone* (table ``release_tombstones``) written with a ``release_deleted``
audit event in one transaction; then the store blobs no live release references are
removed. A deleted release can no longer be deployed, approved or re-created (exit 2).

``gc`` keeps, per the config's ``retention: {keep: N}`` (default 20):

* the newest ``keep`` releases;
* every release currently deployed anywhere (the latest succeeded deployment of each
  environment, locally or in the remote ledger) and each environment's rollback target
  (the succeeded release before it);
* every release with a deployment in progress.

Everything else is deleted. Store blobs referenced by no kept release are removed,
except the deployments' logs (every deployment row stays, and ``deployment log`` reads its
log from the store) and unreferenced blobs younger than :data:`FRESH_SECONDS` (a
``release create`` may be about to record them).

``gc`` also cleans ``store/quarantine/`` (blobs commands changed through their links, see
:mod:`trainmaster.store_guard`). A quarantined copy is removed when

* no kept release needs its digest (its releases were deleted, by this ``gc`` or before), or
* its digest is back in the store and re-hashes intact (``release create``/``fetch`` restored
  it) and it was quarantined more than :data:`QUARANTINE_DAYS` days ago (its file's change time,
  which no command can set back), so there is a week to inspect what the commands wrote.

One whose digest is still missing from the store stays: it is why the releases that need it exit
4, and the error names it. Each removal is an audited ``quarantine_removed`` event (the copy's
name, pinned digest, size, its own sha256 and why), written before the file goes. Anything in
the folder that is not a regular file named ``<digest hex>.<label>`` is skipped with a warning.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trainmaster.errors import InvalidInput

if TYPE_CHECKING:
    from pathlib import Path

    from trainmaster.app import App
    from trainmaster.ledger import SqliteLedger
    from trainmaster.model import Release

FRESH_SECONDS = 600.0
QUARANTINE_DAYS = 7


def tombstone(ledger: SqliteLedger, release_id: str) -> dict[str, str] | None:
    """When, by whom and why ``release_id`` was deleted; None if it was not."""
    from trainmaster.audit import select_sql

    rows = ledger._checked("release_tombstones", ledger.conn.execute(
        select_sql("release_tombstones", "WHERE release_id = ?"), (release_id,)).fetchall())
    return {"at": rows[0]["at"], "actor": rows[0]["actor"], "reason": rows[0]["reason"]} if rows else None


def deleted_ids(ledger: SqliteLedger) -> set[str]:
    return {r[0] for r in ledger.conn.execute("SELECT release_id FROM release_tombstones")}


def refuse_deleted(ledger: SqliteLedger, release: Release) -> None:
    """Exit 2 naming the release when it was deleted."""
    found = tombstone(ledger, release.id)
    if found is not None:
        raise InvalidInput(f"release {release.version} was deleted by {found['actor']} at {found['at']} "
                           f"({found['reason']}); its packages are gone from the store: use a new version")


@dataclass
class Quarantined:
    """A copy in ``store/quarantine/`` and what ``gc`` does with it (``remove`` or ``keep``), and why."""

    name: str
    path: Path
    digest: str
    bytes: int
    action: str
    why: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.name, "digest": self.digest, "bytes": self.bytes, "action": self.action,
                "why": self.why}


@dataclass
class Plan:
    """What a ``gc`` or ``release delete`` removes."""

    releases: list[Release] = field(default_factory=list)
    blobs: list[tuple[str, Path, int]] = field(default_factory=list)  # digest, path, bytes
    kept: dict[str, str] = field(default_factory=dict)  # version -> why
    quarantine: list[Quarantined] | None = None  # gc only

    @property
    def doomed_copies(self) -> list[Quarantined]:
        return [q for q in self.quarantine or [] if q.action == "remove"]

    @property
    def bytes(self) -> int:
        return sum(size for _, _, size in self.blobs) + sum(q.bytes for q in self.doomed_copies)

    def to_json(self) -> dict[str, Any]:
        found = {"releases": [{"version": r.version, "release_id": r.id} for r in self.releases],
                 "blobs": [{"digest": d, "bytes": size} for d, _, size in self.blobs],
                 "bytes": self.bytes, "kept": self.kept}
        if self.quarantine is not None:
            found["quarantine"] = [q.to_json() for q in self.quarantine]
        return found


def _protected(app: App) -> dict[str, str]:
    """Release ids that must stay, each with the reason: deployed, rollback target, in progress."""
    from trainmaster.deploy import last_good

    keep: dict[str, str] = {}
    for env in app.config.environments:
        current = last_good(app, env.name)
        if current is not None:
            keep.setdefault(current.release_id, f"deployed in {env.name}")
            target = last_good(app, env.name, exclude_release=current.release_id)
            if target is not None:
                keep.setdefault(target.release_id, f"rollback target of {env.name}")
    for dep in app.ledger.in_progress():
        keep.setdefault(dep.release_id, f"being deployed to {dep.environment}")
    return keep


def _live(app: App, gone: set[str]) -> set[str]:
    """The digests a release not in ``gone`` or a deployment's log refers to."""
    live: set[str] = {row[0] for row in app.ledger.conn.execute(
        "SELECT DISTINCT log FROM deployments WHERE log IS NOT NULL AND log != ''")}  # `deployment log` reads them
    for rel in app.ledger.list_releases(app.config.project):
        if rel.id not in gone:
            live.update(p.digest for p in rel.packages)
    return live


def _blobs(app: App, doomed: list[Release], deleted: set[str]) -> list[tuple[str, Path, int]]:
    """Store files referenced by no live release (those of ``doomed`` included) and no deployment's log."""
    live = _live(app, deleted | {r.id for r in doomed})
    doomed_digests = {p.digest for r in doomed for p in r.packages}
    shard_root = app.store.root / "sha256"
    found = []
    now = time.time()
    for path in sorted(shard_root.glob("*/*")) if shard_root.is_dir() else []:
        digest = f"sha256:{path.name}"
        if digest in live or not path.is_file():
            continue
        st = path.stat()
        if digest not in doomed_digests and now - st.st_mtime < FRESH_SECONDS:
            continue
        found.append((digest, path, st.st_size))
    return found


def plan_gc(app: App) -> Plan:
    keep_n = app.config.retention_keep
    deleted = deleted_ids(app.ledger)
    releases = [r for r in app.ledger.list_releases(app.config.project) if r.id not in deleted]
    kept = {rid: why for rid, why in _protected(app).items()}
    for rel in releases[-keep_n:]:
        kept.setdefault(rel.id, f"among the newest {keep_n}")
    plan = Plan(releases=[r for r in releases if r.id not in kept])
    plan.kept = {r.version: kept[r.id] for r in releases if r.id in kept}
    plan.blobs = _blobs(app, plan.releases, deleted)
    plan.quarantine = _quarantine(app, _live(app, deleted | {r.id for r in plan.releases}))
    return plan


def _quarantine(app: App, live: set[str]) -> list[Quarantined]:
    """Each quarantined copy with what the policy (module docstring) does with it."""
    from trainmaster.store_guard import quarantine_files

    now = app.clock().timestamp()
    found = []
    for name, path, digest, st in quarantine_files(app.store):
        if digest not in live:
            action, why = "remove", f"no kept release needs {digest}"
        elif not app.store.has(digest):
            action, why = "keep", (f"{digest} is still missing from the store (`trainmaster release create` or "
                                   "`release fetch` of a release that needs it restores it)")
        elif now - st.st_ctime < QUARANTINE_DAYS * 86400:
            action, why = "keep", f"quarantined less than {QUARANTINE_DAYS} days ago: kept for inspection"
        elif not app.store.intact(digest):
            action, why = "keep", f"the store's file for {digest} does not hash to it (`trainmaster release verify`)"
        else:
            action, why = "remove", (f"{digest} is back intact in the store and the copy was quarantined more than "
                                     f"{QUARANTINE_DAYS} days ago")
        found.append(Quarantined(name, path, digest, st.st_size, action, why))
    return found


def plan_delete(app: App, release: Release) -> Plan:
    """``release delete``: only a release never deployed anywhere (exit 2 otherwise)."""
    refuse_deleted(app.ledger, release)
    row = app.ledger.conn.execute("SELECT environment, status FROM deployments WHERE release_id = ? "
                                  "ORDER BY id LIMIT 1", (release.id,)).fetchone()
    if row is not None:
        raise InvalidInput(f"release {release.version} was deployed to {row[0]} ({row[1]}): only a release never "
                           "deployed can be deleted; `trainmaster gc` retires deployed ones under the retention "
                           "policy")
    return Plan(releases=[release], blobs=_blobs(app, [release], deleted_ids(app.ledger)))


def apply(app: App, plan: Plan, actor: str, reason: str) -> None:
    """Tombstone the releases (audited, one transaction), then remove the blobs."""
    from trainmaster.ledger import now

    ledger = app.ledger
    with ledger.transaction() as conn:
        for rel in plan.releases:
            cur = conn.execute("INSERT OR IGNORE INTO release_tombstones (release_id, at, actor, reason) "
                               "VALUES (?,?,?,?)", (rel.id, now(), actor, reason))
            if cur.rowcount:
                ledger._audit(conn, "release_deleted", actor, f"{rel.project}@{rel.version}",
                              {"release_id": rel.id, "reason": reason,
                               "packages": {p.name: p.digest for p in rel.packages}},
                              bound=("release_tombstones", rel.id))
    for digest, path, _ in plan.blobs:
        path.unlink(missing_ok=True)
        app.store.forget(digest)  # what other systems call those bytes goes with them
    for copy in plan.doomed_copies:
        try:
            copied = _hash_copy(copy.path)
        except OSError:  # gone (or no longer a regular file) since it was listed: not removed here
            continue
        with ledger.transaction() as conn:
            ledger._audit(conn, "quarantine_removed", actor, f"quarantine/{copy.name}",
                          {"digest": copy.digest, "bytes": copy.bytes, "sha256": copied, "why": copy.why,
                           "reason": reason})
        copy.path.unlink(missing_ok=True)


def _hash_copy(path: Path) -> str:
    """The sha256 of a quarantined copy, never through a symbolic link (OSError if it is not a regular file)."""
    import hashlib

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError(f"{path} is not a regular file")
        return "sha256:" + hashlib.file_digest(fh, "sha256").hexdigest()
