"""The ``github`` publisher: a GitHub Release per version, with the packages and ``release.json`` as assets.

``ensure`` creates a **draft** at the build's commit, uploads ``release.json``
first (so an interrupted draft can be recognised), then every package, streamed,
and only then publishes it: nobody sees a half-uploaded release, and immutable
releases work. Re-running is idempotent: a release whose ``release.json`` has the
same id is reported ``exists``; a different id is a ``conflict`` naming both. An
interrupted draft (found through the release list, since get-by-tag sees only
published releases) is completed, never duplicated.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from trainmaster.errors import DigestMismatch, IntegrityError, InvalidInput
from trainmaster.interfaces import PublishResult
from trainmaster.model import Release
from trainmaster.record import check_record, inside, read_json
from trainmaster_github._latest import is_prerelease, make_latest, make_latest_from
from trainmaster_github._settings import Settings, warn_if_local_ledger, warn_once

if TYPE_CHECKING:
    from trainmaster.config.model import Config
    from trainmaster_github.client import GitHubClient

RECORD = "release.json"
MARKER = "trainmaster-release-id:"
MAX_RECORD = 10 * 1024 * 1024
LISTED = 1000  # releases listed at most when looking for drafts (10 pages)


def asset_name(release: Release, package_name: str) -> str:
    """The asset name of a package: its file name (GitHub's character rules applied), made unique."""
    names = [_clean(p.file_name) for p in release.packages]
    for pkg, name in zip(release.packages, names, strict=True):
        if pkg.name == package_name:
            return name if names.count(name) == 1 and name != RECORD else _clean(f"{pkg.name}-{pkg.file_name}")
    raise KeyError(package_name)


def _clean(name: str) -> str:
    """``name`` as GitHub keeps it: GitHub turns each run of characters outside ``[A-Za-z0-9._-]``
    into one ``.`` and strips leading and trailing dots, so a cleaned name is never renamed."""
    return re.sub(r"[^A-Za-z0-9._-]+", ".", name).strip(".") or "asset"


class GitHubPublisher:
    """Mirrors releases into GitHub Releases (see the module docstring)."""

    verifies_uploads = True  # each upload is checked against GitHub's digest of it (client.upload_asset ``verify``)

    def __init__(self, environ: Mapping[str, str] | None = None, **client_kw: Any) -> None:
        self.environ = environ
        self.client_kw = client_kw
        self.fetched: PublishResult | None = None  # where the last ``fetch`` found its release

    def _client(self, config: Config) -> tuple[Settings, GitHubClient]:
        settings = Settings.resolve(config, None, self.environ)
        return settings, settings.client(self.environ, **self.client_kw)

    # -- lookups -----------------------------------------------------------------------------
    def find(self, client: GitHubClient, tag: str) -> dict[str, Any] | None:
        """The published release for ``tag`` (get-by-tag sees only published releases), else None."""
        from trainmaster_github.client import GitHubNotFound

        try:
            found: dict[str, Any] = client.call(
                "GET",
                f"{client.repo_path}/releases/tags/{quote(tag, safe='/')}",
                what=f"look up the release {tag}",
                permission="contents: read",
            )
            return found
        except GitHubNotFound:
            return None

    def _all(self, client: GitHubClient) -> list[dict[str, Any]]:
        """The release list, newest first, at most :data:`LISTED` (the only place drafts show up)."""
        return list(
            client.paginate(f"{client.repo_path}/releases", what="list releases", permission="contents: read",
                            limit=LISTED)
        )

    def _listed(self, client: GitHubClient, tag: str) -> list[dict[str, Any]]:
        """Every release with ``tag`` from the release list."""
        return [r for r in self._all(client) if r.get("tag_name") == tag]

    def _assets(self, client: GitHubClient, rel: dict[str, Any], *, embedded: bool = False
                ) -> dict[str, dict[str, Any]]:
        """The release's assets by name. With ``embedded``, those ``rel`` carries (a release read by
        tag or id lists them) unless it may hold more than one page; a draft's are always listed."""
        inline = rel.get("assets")
        if embedded and isinstance(inline, list) and len(inline) < 100 and not rel.get("draft"):
            return _by_name(inline)
        items = client.paginate(
            f"{client.repo_path}/releases/{rel['id']}/assets",
            what="list release assets",
            permission="contents: read",
        )
        return _by_name(items)

    def read_record(self, client: GitHubClient, assets: Mapping[str, dict[str, Any]]) -> dict[str, Any] | None:
        """The ``release.json`` of a release, or None when it has none (yet)."""
        asset = assets.get(RECORD)
        if asset is None or asset.get("state", "uploaded") != "uploaded":
            return None
        if int(asset.get("size") or 0) > MAX_RECORD:
            raise IntegrityError(f"{RECORD} of the GitHub release is {asset['size']} bytes; not a trainmaster record")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / RECORD
            client.download_asset(asset["id"], path, what=f"download {RECORD}")
            source = f"the GitHub release asset {RECORD}"
            return check_record(read_json(path.read_bytes(), source), source)

    # -- Publisher protocol ----------------------------------------------------------------------
    def ensure(self, release: Release, files: Mapping[str, Path], config: Config) -> PublishResult:
        """Make sure the GitHub release for ``release`` exists, complete and published."""
        from trainmaster_github.client import MAX_ASSET_SIZE

        warn_if_local_ledger(config, self.environ)
        for pkg in release.packages:
            if pkg.size >= MAX_ASSET_SIZE or pkg.size == 0:
                why = "is empty; GitHub rejects empty release assets" if pkg.size == 0 else (
                    f"is {pkg.size} bytes; GitHub release assets must be smaller than 2 GiB"
                )
                raise InvalidInput(
                    f"package {pkg.name} ({pkg.file_name}) {why}, so this release cannot be "
                    "published to GitHub (nothing was uploaded)"
                )
            if pkg.name not in files:
                raise InvalidInput(f"package {pkg.name} has no local file to upload to GitHub")
        settings, client = self._client(config)
        tag = settings.tag(release.version)
        listed: list[dict[str, Any]] | None = None
        every: list[dict[str, Any]] = []
        rel = self.find(client, tag)
        if rel is None:
            every = self._all(client)
            listed = [r for r in every if r.get("tag_name") == tag]
            rel = next((r for r in listed if not r.get("draft")), None)
        if rel is not None:  # published: the same release, or a conflict
            found = self._assets(client, rel, embedded=True)
            record = self.read_record(client, found)
            if record is None:
                return PublishResult(
                    "conflict",
                    detail=f"the GitHub release {tag} exists but has no {RECORD}: it was not made by trainmaster",
                    url=rel.get("html_url"),
                )
            if record.get("id") != release.id:
                return PublishResult(
                    "conflict",
                    detail=f"the GitHub release {tag} holds release {record.get('id')}; this release is {release.id}",
                    url=rel.get("html_url"),
                )
            return PublishResult("exists", url=rel.get("html_url"), remote=_remote(rel, tag, release, found))
        commit = (release.metadata.get("source") or {}).get("commit") or (self.environ or os.environ).get(
            "GITHUB_SHA"
        )
        rel = self._our_draft(client, release, tag, commit, listed or [])
        if rel is None:
            rel = self._create_draft(client, release, tag, config, commit)
            assets: dict[str, dict[str, Any]] = {}
        else:
            assets = self._assets(client, rel)
        with tempfile.TemporaryDirectory() as tmp:
            record_path = Path(tmp) / RECORD
            record_path.write_bytes(release.to_json())
            uploads: list[tuple[str, Path, str, str | None]] = [(RECORD, record_path, "application/json", None)]
            uploads += [
                (asset_name(release, p.name), Path(files[p.name]), p.media_type, p.digest) for p in release.packages
            ]
            for name, path, media_type, digest in uploads:
                self._upload(client, rel, assets, name, path, media_type, digest)
        # the list read above is complete unless it hit LISTED: then GitHub's latest release is asked
        complete = len(every) < LISTED
        latest = (make_latest_from(every, settings.tag_format, release.version) if complete
                  else make_latest(client, settings.tag_format, release.version))
        published = client.call(
            "PATCH",
            f"{client.repo_path}/releases/{rel['id']}",
            json={"draft": False, "make_latest": latest},
            what=f"publish the release {tag}",
            permission="contents: write",
        )
        if settings.immutable and not published.get("immutable"):
            warn_once(
                "immutable",
                f"github.immutable is set but GitHub did not mark {tag} immutable: enable "
                "immutable releases in the repository settings",
                self.environ,
            )
        return PublishResult("created", url=published.get("html_url"),
                             remote=_remote(published, tag, release, assets))

    def _our_draft(
        self, client: GitHubClient, release: Release, tag: str, commit: str | None, listed: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """Our draft of this very release to complete, after replacing stale ones of other builds.

        A draft without the trainmaster marker belongs to another tool (release-drafter, a person):
        it is left alone, and trainmaster creates its own draft (GitHub allows several drafts per
        tag, and only one release per tag can be published). A trainmaster draft of a *different*
        release id was left by an earlier failed run of another build; nobody can see a draft, so it
        is deleted and replaced.
        """
        mine = f"{MARKER} {release.id}"
        drafts = sorted((r for r in listed if r.get("draft")), key=lambda r: r["id"])
        ours = [r for r in drafts if mine in (r.get("body") or "")]
        for stale in (r for r in drafts if MARKER in (r.get("body") or "") and r not in ours):
            client.delete(f"{client.repo_path}/releases/{stale['id']}", what=f"delete the stale draft release {tag}")
            warn_once(
                f"stale-draft-{stale['id']}",
                f"replaced the unpublished draft release {tag} ({stale.get('html_url')}) left by an "
                f"earlier run of a different build; this release is {release.id}",
                self.environ,
            )
        foreign = [r for r in drafts if MARKER not in (r.get("body") or "")]
        if foreign:
            warn_once(
                f"foreign-draft-{tag}",
                f"a draft release {tag} not made by trainmaster ({foreign[0].get('html_url')}) was left "
                "alone; trainmaster publishes its own release for this tag, so delete that draft",
                self.environ,
            )
        if not ours:
            return None
        draft = ours[0]
        if commit and draft.get("target_commitish") != commit:
            patched: dict[str, Any] = client.call(
                "PATCH",
                f"{client.repo_path}/releases/{draft['id']}",
                json={"target_commitish": commit},
                what=f"point the draft release {tag} at {commit}",
                permission="contents: write",
            )
            return patched
        return draft

    def _create_draft(
        self, client: GitHubClient, release: Release, tag: str, config: Config, commit: str | None
    ) -> dict[str, Any]:
        notes = release.metadata.get("notes") or ""
        body = (f"{notes}\n\n" if notes else "") + (
            f"{config.project} {release.version}, built once and promoted by trainmaster.\n\n"
            f"<!-- {MARKER} {release.id} -->"
        )
        payload: dict[str, Any] = {
            "tag_name": tag,
            "name": f"{config.project} {release.version}",
            "body": body,
            "draft": True,
            "prerelease": is_prerelease(release.version),
        }
        if commit:
            payload["target_commitish"] = commit

        def recover() -> dict[str, Any] | None:
            mine = f"{MARKER} {release.id}"
            found = [r for r in self._listed(client, tag) if mine in (r.get("body") or "")]
            return min(found, key=lambda r: r["id"]) if found else None

        created: dict[str, Any] = client.call(
            "POST",
            f"{client.repo_path}/releases",
            json=payload,
            ok=(201,),
            what=f"create the draft release {tag}",
            permission="contents: write",
            repo_404=True,
            recover=recover,
        )
        return created

    def _upload(
        self,
        client: GitHubClient,
        rel: dict[str, Any],
        assets: dict[str, dict[str, Any]],
        name: str,
        path: Path,
        media_type: str,
        digest: str | None,
    ) -> None:
        size = path.stat().st_size
        existing = assets.get(name)
        if existing is not None and _complete(existing, size, digest):
            return
        if existing is not None:
            self._delete_asset(client, existing)

        def recover() -> dict[str, Any] | None:
            found = self._assets(client, rel).get(name)
            if found is None:
                return None
            if _complete(found, size, digest):
                return found
            self._delete_asset(client, found)
            return None

        asset = client.upload_asset(rel["upload_url"], name, path, content_type=media_type, recover=recover,
                                    verify=digest)
        if asset.get("name") != name:
            self._delete_asset(client, asset)
            raise InvalidInput(
                f"GitHub renamed the uploaded asset {name!r} to {asset.get('name')!r} (the asset was "
                "removed): rename the package file to use only letters, digits, '.', '_' and '-'"
            )
        if not _complete(asset, size, digest, unvouched=True):
            raise DigestMismatch(
                f"GitHub stored the asset {name} as {asset.get('size')} bytes "
                f"{asset.get('digest') or ''}; expected {size} bytes {digest or ''}"
            )
        assets[name] = asset

    def _delete_asset(self, client: GitHubClient, asset: dict[str, Any]) -> None:
        client.delete(f"{client.repo_path}/releases/assets/{asset['id']}",
                      what=f"remove the partial asset {asset['name']}")

    def check(self, release: Release, config: Config) -> PublishResult:
        """``exists`` when GitHub holds this very release, else ``conflict`` (missing or different)."""
        settings, client = self._client(config)
        tag = settings.tag(release.version)
        rel = self.find(client, tag)
        if rel is None or rel.get("draft"):
            return PublishResult("conflict", detail=f"missing: no published GitHub release {tag}")
        assets = self._assets(client, rel, embedded=True)
        record = self.read_record(client, assets)
        if record is None or record.get("id") != release.id:
            found = record.get("id") if record else f"no {RECORD}"
            return PublishResult(
                "conflict",
                detail=f"the GitHub release {tag} holds {found}; the ledger has {release.id}",
                url=rel.get("html_url"),
            )
        for pkg in release.packages:
            asset = assets.get(asset_name(release, pkg.name))
            if asset is None or not _complete(asset, pkg.size, pkg.digest, unvouched=True):
                return PublishResult(
                    "conflict",
                    detail=f"the GitHub release {tag} lacks a complete {asset_name(release, pkg.name)}",
                    url=rel.get("html_url"),
                )
        return PublishResult("exists", url=rel.get("html_url"), remote=_remote(rel, tag, release, assets))

    def fetch(self, version: str, dest: Path, config: Config) -> tuple[Release, dict[str, Path]] | None:
        """Download the published release ``version`` and its digest-verified packages into ``dest``."""
        settings, client = self._client(config)
        tag = settings.tag(version)
        rel = self.find(client, tag)
        if rel is None or rel.get("draft"):
            return None
        assets = self._assets(client, rel, embedded=True)
        record = self.read_record(client, assets)
        if record is None:
            raise IntegrityError(f"the GitHub release {tag} has no {RECORD}: it was not made by trainmaster")
        release = Release.from_record(record, f"the GitHub release {tag}")
        if release.version != version or release.project != config.project:
            raise IntegrityError(
                f"the GitHub release {tag} holds {release.project} {release.version}, not {config.project} {version}"
            )
        files: dict[str, Path] = {}
        dest.mkdir(parents=True, exist_ok=True)
        for pkg in release.packages:
            name = asset_name(release, pkg.name)
            asset = assets.get(name)
            if asset is None:
                raise IntegrityError(f"the GitHub release {tag} lacks the asset {name} of package {pkg.name}")
            target = inside(dest, name)
            got = client.download_asset(asset["id"], target, what=f"download {name}")
            if got != pkg.digest:
                target.unlink(missing_ok=True)
                raise DigestMismatch(
                    f"{name} downloaded from the GitHub release {tag} hashes to {got}; the release pins {pkg.digest}"
                )
            files[pkg.name] = target
        self.fetched = PublishResult("exists", url=rel.get("html_url"), remote=_remote(rel, tag, release, assets))
        return release, files


def _complete(asset: object, size: int, digest: str | None, *, unvouched: bool = False) -> bool:
    """Whether the asset GitHub answered with (remote data) holds the ``size`` bytes of ``digest``.

    GitHub's own ``digest`` must be the pinned one: an asset without it (or with a malformed
    ``size``) is not complete, so an earlier upload is never taken on its size alone. ``unvouched``:
    an asset without a digest counts when its size is right (the answer to the upload just made,
    whose bytes the client checked by hashing the file it sent; ``check``'s answer).
    """
    if not isinstance(asset, Mapping):
        return False
    stored = asset.get("size")
    if asset.get("state", "uploaded") != "uploaded" or type(stored) is not int or stored != size:
        return False
    remote = asset.get("digest")
    return not digest or remote == digest or (unvouched and not remote)


def _remote(rel: Mapping[str, Any], tag: str, release: Release,
            assets: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What the ledger records: the release's id, tag and page, and per package its asset's
    ``browser_download_url`` (``package_urls``, the manifest's ``url``)."""
    urls = {}
    for pkg in release.packages:
        url = (assets.get(asset_name(release, pkg.name)) or {}).get("browser_download_url")
        if isinstance(url, str) and url:
            urls[pkg.name] = url
    return {"github_release_id": rel.get("id"), "tag": tag, "url": rel.get("html_url"), "package_urls": urls}


def _by_name(items: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Assets by name; an entry that is not an object with a string name is not an asset of ours (data)."""
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            found[item["name"]] = item
    return found
