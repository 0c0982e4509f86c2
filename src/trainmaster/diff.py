"""``release diff A B``: what changed between two releases.

Packages added, removed and changed (digest, size, file name, media type), metadata keys
that differ (``source.commit`` and the like flattened with dots), and the source commits
between them — ``git log --oneline A_commit..B_commit`` run in the config's folder — when
both releases carry a ``source.commit`` and that folder is a git repository that has both.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from trainmaster.model import Release

MAX_COMMITS = 500
_COMMIT = re.compile(r"[0-9a-fA-F]{7,64}")


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def in_repository(root: Path) -> bool:
    """Whether ``root`` is in a git work tree (its own ``.git``, or a folder of a repository: a monorepo)."""
    git = shutil.which("git")
    if git is None or not root.is_dir():
        return False
    try:
        found = subprocess.run([git, "-C", str(root), "rev-parse", "--is-inside-work-tree"], capture_output=True,
                               text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return found.returncode == 0 and found.stdout.strip() == "true"


def commits_between(root: Path, old: str, new: str) -> tuple[list[str] | None, str]:
    """``git log --oneline old..new`` in ``root``: the lines, or None and why not."""
    git = shutil.which("git")
    if git is None:
        return None, "git is not installed"
    try:
        found = subprocess.run([git, "-C", str(root), "log", "--oneline", "--no-decorate", f"--max-count={MAX_COMMITS}",
                                f"{old}..{new}", "--"], capture_output=True, text=True, errors="replace",
                               timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"git log failed: {exc}"
    if found.returncode != 0:
        reason = (found.stderr.strip().splitlines() or ["git log failed"])[0]
        return None, f"the repository at {root} cannot list {old[:12]}..{new[:12]} ({reason})"
    return found.stdout.splitlines(), ""


def diff_releases(a: Release, b: Release, root: Path) -> dict[str, Any]:
    """The differences from ``a`` to ``b`` (see the module docstring), as the ``--json`` shape."""
    old, new = {p.name: p for p in a.packages}, {p.name: p for p in b.packages}
    changed = []
    for name in sorted(old.keys() & new.keys()):
        before, after = old[name].to_dict(), new[name].to_dict()
        fields = {k: {"from": before[k], "to": after[k]} for k in before if before[k] != after.get(k)}
        if fields:
            changed.append({"name": name, "changes": fields})
    meta_a, meta_b = _flat(a.metadata), _flat(b.metadata)
    metadata = {k: {"from": meta_a.get(k), "to": meta_b.get(k)}
                for k in sorted(meta_a.keys() | meta_b.keys()) if meta_a.get(k) != meta_b.get(k)}
    commit_a, commit_b = meta_a.get("source.commit"), meta_b.get("source.commit")
    commits: list[str] | None = None
    note = ""
    if not (isinstance(commit_a, str) and isinstance(commit_b, str)):
        note = "both releases need a source commit (created in CI) to list the commits between them"
    elif not (_COMMIT.fullmatch(commit_a) and _COMMIT.fullmatch(commit_b)):
        note = "a source commit is not a hexadecimal commit id"  # release records are data: never a git option
    elif not in_repository(root):
        note = f"no git repository at {root}"
    else:
        commits, note = commits_between(root, commit_a, commit_b)
        if commits is not None and len(commits) >= MAX_COMMITS:
            note = f"only the newest {MAX_COMMITS} commits are listed"
    return {
        "from": {"version": a.version, "release_id": a.id},
        "to": {"version": b.version, "release_id": b.id},
        "packages": {"added": [new[n].to_dict() for n in sorted(new.keys() - old.keys())],
                     "removed": [old[n].to_dict() for n in sorted(old.keys() - new.keys())],
                     "changed": changed},
        "metadata": metadata,
        "commits": commits,
        "commits_note": note or None,
    }
