"""SemVer rules of GitHub releases: which versions are pre-releases, and GitHub's ``make_latest``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trainmaster.errors import InvalidInput
from trainmaster.model import check_version, semver_key

if TYPE_CHECKING:
    from trainmaster_github.client import GitHubClient


def is_prerelease(version: str) -> bool:
    """SemVer: a pre-release has ``-`` before any ``+build`` part (``1.0.0+build-5`` is not one)."""
    return "-" in version.split("+", 1)[0]


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
    prefix, _, suffix = tag_format.partition("{version}")
    tag = str((latest or {}).get("tag_name") or "")
    other = tag[len(prefix) : len(tag) - len(suffix)] if tag.startswith(prefix) and tag.endswith(suffix) else ""
    try:
        check_version(other)
    except InvalidInput:
        return "legacy"
    return "true" if semver_key(version) > semver_key(other) else "false"
