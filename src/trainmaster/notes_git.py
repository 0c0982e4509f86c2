"""Release notes generated from git: ``release create VERSION --notes-from-git``.

The notes list the subjects of the commits between the previous release's source commit
and this one (``git log`` in the config's folder, through :func:`trainmaster.diff.commits_between`):

* **this commit** is the release's ``source.commit`` as the CI records it (``GITHUB_SHA``,
  ``BUILD_SOURCEVERSION``); outside CI, the ``HEAD`` of the repository;
* **the previous commit** is the ``source.commit`` of the newest other release of the project
  that carries one (releases created in CI do).

Explicit, never automatic: without the flag no git command runs. It fails with exit 2 (and
nothing is written) when the config's folder is in no git work tree, no earlier release
with a source commit, or git cannot list the range. Commit subjects are data, written by
anyone with push access: control and formatting characters become U+FFFD, and the notes are
capped like any notes (64 KiB), the commits that do not fit summed up in a last line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from trainmaster.errors import InvalidInput

if TYPE_CHECKING:
    from trainmaster.app import App

_COMMIT = re.compile(r"[0-9a-fA-F]{7,64}")
_WHERE = "--notes-from-git"


def _commit_of(source: object) -> str | None:
    commit = source.get("commit") if isinstance(source, dict) else None
    return commit if isinstance(commit, str) and _COMMIT.fullmatch(commit) else None


def _head(root: Path) -> str:
    git = shutil.which("git")
    if git is None:
        raise InvalidInput(f"{_WHERE}: git is not installed")
    try:
        found = subprocess.run([git, "-C", str(root), "rev-parse", "--verify", "HEAD^{commit}"], capture_output=True,
                               text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InvalidInput(f"{_WHERE}: git rev-parse failed: {exc}") from None
    head = found.stdout.strip()
    if found.returncode != 0 or not _COMMIT.fullmatch(head):
        raise InvalidInput(f"{_WHERE}: the repository at {root} has no commit yet")
    return head


def neutral(subject: str) -> str:
    """A commit subject as inert text: every non-printable character (controls, bidi marks) is U+FFFD."""
    return "".join(c if c.isprintable() else "\ufffd" for c in subject)


def _count(root: Path, since: str, this: str) -> int | None:
    """How many commits ``since..this`` holds (``git rev-list --count``), None when git cannot say."""
    git = shutil.which("git")
    try:
        found = subprocess.run([git or "git", "-C", str(root), "rev-list", "--count", f"{since}..{this}", "--"],
                               capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return int(found.stdout) if found.returncode == 0 and found.stdout.strip().isdigit() else None


def render(previous: str, lines: list[str], limit: int, total: int | None = None) -> str:
    """The notes: a heading, then ``- subject (abbrev)`` per commit, newest first, within ``limit`` bytes.

    ``total`` is the number of commits in the range when ``lines`` holds only the newest of them.
    """
    total = max(total or 0, len(lines))
    out = [f"Changes since {previous}:", ""]
    size = len("\n".join(out).encode("utf-8"))
    for index, line in enumerate(lines):
        abbrev, _, subject = line.partition(" ")
        item = f"- {neutral(subject)} ({neutral(abbrev)})"
        rest = f"- … and {total - index} more commit(s)"
        if size + len(item.encode("utf-8")) + len(rest.encode("utf-8")) + 2 > limit:
            out.append(rest)
            break
        out.append(item)
        size += len(item.encode("utf-8")) + 1
    else:
        if total > len(lines):  # git listed only the newest MAX_COMMITS
            out.append(f"- … and {total - len(lines)} more commit(s)")
    if not lines:
        out.append("- no commits")
    return "\n".join(out) + "\n"


def notes_from_git(app: App, version: str, limit: int) -> str:
    """The release notes of ``version`` from the commit subjects since the previous release (module docstring)."""
    from trainmaster.diff import MAX_COMMITS, commits_between, in_repository

    root = app.config.root
    if not in_repository(root):
        raise InvalidInput(f"{_WHERE}: no git repository at {root}")
    this = _commit_of(app.ci.source()) or _head(root)
    previous = next((r for r in reversed(app.ledger.recent_releases(app.config.project, 200))
                     if r.version != version and _commit_of(r.metadata.get("source"))), None)
    if previous is None:
        raise InvalidInput(f"{_WHERE}: no earlier release of {app.config.project} carries a source commit (releases "
                           "created in CI record one); give the notes with --notes or --notes-file")
    since = _commit_of(previous.metadata.get("source"))
    assert since is not None
    lines, why = commits_between(root, since, this)
    if lines is None:
        raise InvalidInput(f"{_WHERE}: {why}")
    total = _count(root, since, this) if len(lines) >= MAX_COMMITS else None
    return render(previous.version, lines, limit, total)
