"""SemVer rules of GitHub releases: which versions are pre-releases, and GitHub's ``make_latest``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trainmaster.errors import InvalidInput
from trainmaster.model import check_version, semver_key

if TYPE_CHECKING:
    from trainmaster_github.client import GitHubClient


def is_prerelease(version: str) -> bool:
    """SemVer: a pre-release has ``-`` before any ``+build`` part (``1.0.0+build-5`` is not one)."""
    return "-" in version.split("+", 1)[0]


def _version_of(tag_format: str, tag: str) -> str | None:
    """The version in ``tag`` when it follows ``tag_format`` and is SemVer, else None."""
    prefix, _, suffix = tag_format.partition("{version}")
    other = tag[len(prefix) : len(tag) - len(suffix)] if tag.startswith(prefix) and tag.endswith(suffix) else ""
    try:
        check_version(other)
    except InvalidInput:
        return None
    return other


def make_latest_from(listed: Sequence[dict[str, Any]], tag_format: str, version: str) -> str:
    """:func:`make_latest` from the complete release list the publisher already read (no extra call).

    The latest of this train is its highest published non-pre-release version (it only ever marks a
    release latest above the previous one); ``legacy`` when the published releases follow another
    tag format only; ``true`` when nothing is published.
    """
    if is_prerelease(version):
        return "false"
    published = [r for r in listed if not r.get("draft") and not r.get("prerelease")]
    if not published:
        return "true"
    ours = [v for v in (_version_of(tag_format, str(r.get("tag_name") or "")) for r in published) if v]
    ours = [v for v in ours if not is_prerelease(v)]
    if not ours:
        return "legacy"
    return "true" if semver_key(version) > max(semver_key(v) for v in ours) else "false"


def make_latest(client: GitHubClient, tag_format: str, version: str) -> str:
    """GitHub's ``make_latest`` (``true``/``false``/``legacy``) for publishing ``version``.

    ``true`` only above the current latest release by SemVer (or when there is none); ``false``
    for a pre-release (GitHub never makes one latest) or a version at or below the latest (a hotfix
    of an old line must not become "latest"); ``legacy`` (GitHub decides by date and version) when
    the latest release's tag does not follow this train's tag format.
    """
    from trainmaster_github.client import GitHubNotFound

    if is_prerelease(version):
        return "false"
    try:
        latest = client.call(
            "GET",
            f"{client.repo_path}/releases/latest",
            what="read the latest release",
            permission="contents: read",
        )
    except GitHubNotFound:
        return "true"
    other = _version_of(tag_format, str((latest or {}).get("tag_name") or ""))
    if other is None:
        return "legacy"
    return "true" if semver_key(version) > semver_key(other) else "false"
