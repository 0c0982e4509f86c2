"""Audit anchors in Octopus release notes (issue 10, item 3): ``audit verify --against octopus``.

Once the deployment of a release to an environment is created (or an earlier one is attached to or
adopted), the notes of that Octopus release get one line for the trainmaster environment: the audit
chain's head after the deployment's first ledger event (``DeployJob.audit_anchor``, see
:mod:`trainmaster.anchors`) followed by the environment's name::

    trainmaster-audit v1 ledger=<16 hex> seq=<n> hash=<sha256:…> environment=<name>

The line of the same environment is replaced where it stands; every other character of the notes
(the user's notes, the release id, the digests table, other environments' lines) stays as it was.
A new line is appended after a blank line (so Markdown never reads it as a row of the digests table).

Octopus has no partial update of a release: the whole ``ReleaseResource`` goes back with one
``PUT /{spaceId}/releases/{id}``, built from the release this command already read (the GET by version,
or the read-back after creating it, kept on the client's cache): no extra read. Octopus documents no
length limit for release notes; trainmaster keeps them to :data:`trainmaster.anchors.MAX_TEXT`
characters (what ``audit verify`` reads back) and skips the anchor with a warning otherwise. The
deployment was already created when the anchor is written, so a failed PUT is a warning too.

The PUT is last-write-wins: two runners deploying the same release to two environments at the same
moment can lose one of the two lines (the next deployment there writes it again). ``audit verify``
then checks one anchor fewer, never a wrong one.

:func:`read_anchors` reads them back for ``audit verify --against octopus``: one paged pass over each
project's releases (100 a page). The notes are remote data: only lines that mention the mark are
handed on, each to :func:`trainmaster.anchors.parse` (a malformed one is exit 4).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from trainmaster.anchors import MARK, MAX_TEXT

if TYPE_CHECKING:
    from trainmaster_octopus._resources import Octopus

__all__ = ["keep_anchor", "read_anchors", "remember_release", "with_anchor"]

ENVIRONMENT = re.compile(r" environment=([A-Za-z0-9._-]{1,128})$")
"""The suffix naming the trainmaster environment (names are a safe alphabet, at most 128 characters)."""
PAGE_SIZE = 100
MAX_PAGES = 100
_VERSION = re.compile(r"[0-9A-Za-z.+_-]{1,349}")


def remember_release(octo: Octopus, resource: Any) -> None:
    """Keep a ``ReleaseResource`` read in this command, so the anchor's PUT needs no read of its own."""
    if isinstance(resource, dict) and resource.get("Id"):
        octo.cache[f"release-resource:{resource['Id']}"] = dict(resource)


def _environment(line: str) -> str | None:
    m = ENVIRONMENT.search(line)
    return m.group(1) if m else None


def with_anchor(notes: str, environment: str, anchor: str) -> str:
    """``notes`` with ``environment``'s anchor line replaced (in place) or appended (after a blank line)."""
    line = f"{anchor} environment={environment}"
    lines = notes.split("\n")
    for i, old in enumerate(lines):
        ending = "\r" if old.endswith("\r") else ""  # notes edited on Windows keep their CRLF
        if old.startswith(MARK) and _environment(old.rstrip("\r")) == environment:
            lines[i] = line + ending
            return "\n".join(lines)
    body = notes.rstrip("\n")
    return f"{body}\n\n{line}\n" if body else f"{line}\n"


def keep_anchor(octo: Octopus, release_id: str, environment: str, anchor: str, out: Callable[[str], None]) -> None:
    """Write ``anchor`` into the notes of Octopus release ``release_id`` (one PUT; a warning on failure)."""
    from trainmaster.errors import TrainmasterError

    key = f"release-resource:{release_id}"
    try:
        resource = octo.cache.get(key)
        if not isinstance(resource, dict):  # not read in this command (should not happen): read it once
            resource = octo.client.get(octo.client.space_path(f"releases/{release_id}")) or {}
        notes = resource.get("ReleaseNotes")
        notes = notes if isinstance(notes, str) else ""
        updated = with_anchor(notes, environment, anchor)
        if updated == notes:
            return
        if len(updated) > MAX_TEXT:
            out(f"warning: octopus: the notes of release {release_id} would exceed {MAX_TEXT} characters: the "
                "audit anchor was not kept there (`audit verify --against octopus` checks the other ones)\n")
            return
        body = {**resource, "ReleaseNotes": updated}
        answer = octo.client.request("PUT", octo.client.space_path(f"releases/{release_id}"), json=body)
        remember_release(octo, answer if isinstance(answer, dict) and answer.get("Id") else body)
    except TrainmasterError as exc:
        out(f"warning: octopus: the audit anchor was not kept in the notes of release {release_id}: {exc}\n")


def read_anchors(octo: Octopus, projects: list[str], environments: list[str]) -> Iterator[tuple[str, object]]:
    """``(where, line)`` for each anchor line of ``environments`` (or of none) in the projects' release notes.

    A line without an environment is handed on too (it is checked, or refused as malformed); notes that
    are not a text, or longer than :data:`~trainmaster.anchors.MAX_TEXT` with the mark in them, are handed
    on whole (refused: trainmaster never writes those).
    """
    from trainmaster.errors import Unavailable

    wanted = set(environments)
    for project in projects:
        project_id = str(octo.project(project)["Id"])
        path = octo.client.space_path(f"projects/{project_id}/releases")
        skip = 0
        for _ in range(MAX_PAGES):
            page = octo.client.get(path, {"skip": skip, "take": PAGE_SIZE}) or {}
            items = page.get("Items") if isinstance(page, dict) else None
            if not isinstance(items, list) or not items:
                break
            for rel in items:
                if isinstance(rel, dict):
                    yield from _lines(project, rel, wanted)
            skip += len(items)
            total = page.get("TotalResults")
            if isinstance(total, int) and skip >= total:
                break
        else:
            raise Unavailable(f"Octopus project {project!r} has more than {MAX_PAGES * PAGE_SIZE} releases: not "
                              "every audit anchor was read")


def _lines(project: str, rel: dict[str, Any], wanted: set[str]) -> Iterator[tuple[str, object]]:
    version = str(rel.get("Version"))
    name = version if _VERSION.fullmatch(version) else "(a malformed version)"
    where = f"the notes of Octopus release {name} of {project}"
    notes = rel.get("ReleaseNotes")
    if notes is None or (isinstance(notes, str) and MARK not in notes):
        return
    if not isinstance(notes, str) or len(notes) > MAX_TEXT:
        yield where, notes
        return
    for line in notes.split("\n"):
        if MARK not in line:
            continue
        line = line.removesuffix("\r")  # notes saved with Windows line endings
        env = _environment(line)
        if env is None or env in wanted:
            yield (f"{where} ({env})" if env else where), line
