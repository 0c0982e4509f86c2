"""The classic-release lookups shared by the publisher, target, ledger and approvals.

A trainmaster release is identified on Azure DevOps by the classic release whose
``properties`` (and, as a fallback, ``description``) carry ``trainmaster.releaseId``
and ``trainmaster.version``. Lookups never trust a release name: the name only narrows the query.

Finding the classic release of a version is an indexed lookup, flat with the definition's
history: ``Releases_Create`` cannot choose a name, so the publisher renames each classic release
it creates to end in :func:`name_mark` (``Releases_Update`` with ``ReleaseUpdateMetadata.name``),
and :meth:`Remote.find` asks ``Releases_List`` for ``searchText=<that mark>`` ("releases with
names containing searchText"), then decides by the marks in the properties. Before that, the
releases of the pinned build (``artifactVersionId``) are searched: a re-run finds its release
there in one call, also one created before names were marked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from trainmaster.errors import InvalidInput, Unavailable

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster.model import Release
    from trainmaster_azure._settings import Settings
    from trainmaster_azure.client import AzureDevOps

MARK_ID = "trainmaster.releaseId"
MARK_VERSION = "trainmaster.version"
MARK_PROJECT = "trainmaster.project"
MARK_DIGESTS = "trainmaster.digests"
MARK_AUDIT = "trainmaster.audit"
"""``trainmaster.audit.<stage>``: the audit anchor of the latest trainmaster deployment of that stage
(:mod:`trainmaster.anchors`), kept in the classic release's properties."""
MAX_PAGES = 20
MAX_NAME = 256
"""The longest release name trainmaster writes (the service's limit for a release's name)."""
PAGE_SIZE = 100
RELEASES_LOCATION = "a166fde7-27ad-408e-ba75-703c2cc9d500"  # Releases_List in the 7.1 ReleaseClient
RELEASES_VERSION = "7.1-preview.8"
CONTINUATION_HEADER = "x-ms-continuationtoken"

_SHARED: dict[tuple[str, str, str], dict[str, Any]] = {}
"""Reads that cannot change during one command, shared by the target, ledger and publisher of the
process (one CLI command): the release definition, the marks of classic releases, and which classic
release holds a trainmaster release id. Keyed by organisation, project and definition."""


def reset() -> None:
    """Forget every per-command read (tests that run several commands in one process call this)."""
    _SHARED.clear()


def connect(
    s: Settings, environ: Mapping[str, str] | None = None, http: Mapping[str, Any] | None = None
) -> AzureDevOps:
    """The client for ``s`` (the extra is checked first, then the token).

    :param http: keyword arguments of :class:`~trainmaster_azure.client.AzureDevOps` (``policy``,
        ``timeout``); tests pass a policy with a recording ``sleep``.
    """
    from trainmaster_azure.client import AzureDevOps, import_sdk, token_source
    from trainmaster_azure.context import detect

    import_sdk()
    environ = os.environ if environ is None else environ
    name, token = token_source(environ, s.token_variable)
    ctx = detect(environ)
    if ctx is not None and name != "SYSTEM_ACCESSTOKEN":
        ctx.mask(token)  # System.AccessToken is a secret the agent masks already
    return AzureDevOps(s.organization, s.project, token, **(http or {}))


def description(release: Release) -> str:
    lines = [
        f"trainmaster {release.project} {release.version}",
        f"{MARK_ID}: {release.id}",
        f"{MARK_VERSION}: {release.version}",
    ]
    lines += [f"{p.name}: {p.file_name} {p.digest}" for p in release.packages]
    return "\n".join(lines)[:4000]


def name_mark(version: str) -> str:
    """What a classic release's name ends with so that ``Releases_List searchText`` finds its version.

    Versions are ``[A-Za-z0-9._-]`` (:mod:`trainmaster.model`); the closing parenthesis keeps
    ``1.0.1`` from matching ``1.0.10``'s mark (an ``_``, a wildcard in some searches, only widens
    the answer: :func:`marks` decides).
    """
    return f"(trainmaster {version})"


def marked_name(name: str, version: str) -> str:
    """``name`` with :func:`name_mark` appended (once), at most :data:`MAX_NAME` characters."""
    mark = name_mark(version)
    if name.endswith(mark):
        return name
    return f"{name[: max(0, MAX_NAME - len(mark) - 1)]} {mark}".strip()


def marks(remote: Any) -> tuple[str | None, str | None]:
    """``(release id, version)`` recorded on a classic release, from its properties or description."""
    from trainmaster_azure.client import properties_of

    props = properties_of(remote)
    rid, version = props.get(MARK_ID), props.get(MARK_VERSION)
    for line in (getattr(remote, "description", None) or "").splitlines():
        key, _, value = line.partition(": ")
        if key == MARK_ID and not rid:
            rid = value.strip()
        elif key == MARK_VERSION and not version:
            version = value.strip()
    return rid, version


def web_url(obj: Any) -> str | None:
    links = getattr(obj, "_links", None)
    data = getattr(links, "additional_properties", None) or (links if isinstance(links, dict) else {})
    web = data.get("web") if isinstance(data, dict) else None
    return web.get("href") if isinstance(web, dict) else None


class Remote:
    """One project's release definition, and the classic releases that mirror trainmaster releases."""

    def __init__(self, s: Settings, client: AzureDevOps) -> None:
        self.s = s
        self.client = client
        self.shared = _SHARED.setdefault((s.organization, s.project, str(s.definition)), {})

    @classmethod
    def open(cls, s: Settings, environ: Mapping[str, str] | None = None,
             http: Mapping[str, Any] | None = None) -> Remote:
        """``s``'s release definition through a new client (:func:`connect`: the extra, then the token)."""
        return cls(s, connect(s, environ, http))

    def definition(self) -> Any:
        if self.shared.get("definition") is not None:
            return self.shared["definition"]
        from trainmaster_azure.client import NotFound

        wanted = self.s.require_definition()
        rm = self.client.release
        if isinstance(wanted, int):
            try:
                found = rm.get_release_definition(self.s.project, wanted)
            except NotFound:
                found = None
        else:
            listed = rm.get_release_definitions(
                self.s.project, search_text=wanted, is_exact_name_match=True, expand="environments"
            )
            found = next((d for d in listed or [] if d.name == wanted), None)
            if found is not None and not found.environments:
                found = rm.get_release_definition(self.s.project, found.id)
            elif found is not None:  # the stages came with the list; the artifacts are read when needed
                self.shared["partial"] = True
        if found is None:
            raise InvalidInput(
                f"release definition {wanted!r} not found in project {self.s.project}: "
                "fix azure-devops.definition (a classic release definition's name or id)"
            )
        self.shared["definition"] = found
        return found

    def artifact(self) -> Any:
        if self.shared.pop("partial", False):  # listed with its stages only: read it whole (once)
            self.shared["definition"] = self.client.release.get_release_definition(
                self.s.project, self.definition().id
            )
        arts = [a for a in (self.definition().artifacts or []) if (a.type or "").lower() == "build"]
        if self.s.artifact:
            arts = [a for a in arts if a.alias == self.s.artifact]
        elif len(arts) > 1:
            arts = [a for a in arts if a.is_primary] or arts[:1]
        if not arts:
            which = f"named {self.s.artifact!r} " if self.s.artifact else ""
            raise InvalidInput(
                f"release definition {self.definition().name!r} has no build artifact {which}"
                "to pin: link the build pipeline as an artifact, or fix azure-devops.artifact"
            )
        return arts[0]

    def stage(self, wanted: str) -> str | None:
        """The definition's stage named ``wanted`` (exactly, else the one that differs only in case)."""
        names = self.stage_names()
        if wanted in names:
            return wanted
        folded = [n for n in names if n.lower() == wanted.lower()]
        return folded[0] if len(folded) == 1 else None

    def stage_names(self) -> list[str]:
        return [e.name for e in (self.definition().environments or [])]

    def _release_page(self, query: dict[str, str]) -> tuple[list[Any], str | None]:
        """One ``Releases_List`` page and its ``x-ms-continuationtoken`` header.

        ``ReleaseClient.get_releases`` (7.1) returns a bare list and drops the header, so the page
        is fetched through the client's own send path (same route, version and transport).
        """
        rm = self.client.release
        response = rm._send(
            http_method="GET",
            location_id=RELEASES_LOCATION,
            version=RELEASES_VERSION,
            route_values={"project": rm._serialize.url("project", self.s.project, "str")},
            query_parameters=query,
        )
        items = rm._deserialize("[Release]", rm._unwrap_collection(response)) or []
        token = response.headers.get(CONTINUATION_HEADER) or None
        return list(items), token

    def releases(self, build_id: str | None = None, search: str | None = None) -> list[Any]:
        """Classic releases of the definition (newest first), optionally only those pinned to ``build_id``
        or only those whose name contains ``search`` (``searchText``, filtered by the service).

        Pages through every release (``x-ms-continuationtoken``); when more than ``MAX_PAGES`` pages
        would be needed it raises :class:`Unavailable` (exit 5) rather than answer "absent".
        """
        query = {
            "definitionId": str(self.definition().id),
            "$top": str(PAGE_SIZE),
            "queryOrder": "descending",
            "propertyFilters": f"{MARK_ID},{MARK_VERSION}",
            "$expand": "environments",  # the stages come with the match: no Releases_Get to deploy it
        }
        if search is not None:
            query["searchText"] = search
        if build_id is not None:  # filtered server-side: usually one short page
            query.update(artifactTypeId="Build", artifactVersionId=str(build_id))
            # build ids are unique in the organisation: the artifact's source only narrows it further,
            # when the whole definition was read anyway
            source = None if self.shared.get("partial") else getattr(self.artifact(), "source_id", None)
            if source:
                query["sourceId"] = str(source)
        out: list[Any] = []
        for _ in range(MAX_PAGES):
            items, token = self._release_page(query)
            out.extend(items)
            if not token:
                return out
            query["continuationToken"] = token
        raise Unavailable(
            f"release definition {self.definition().name!r} has more than {MAX_PAGES * PAGE_SIZE} classic "
            "releases to search, so trainmaster cannot tell whether this release is among them: "
            "retain fewer releases (retention policy) or re-run; nothing was created"
        )

    def _scan(self, releases: list[Any], release: Release) -> tuple[Any | None, Any | None]:
        match = conflict = None
        cache = self.shared.setdefault("marks", {})
        for remote in releases:
            rid, version = marks(remote)
            if rid is None and version is None and getattr(remote, "description", None) is None:
                remote = self.client.release.get_release(self.s.project, remote.id)
                rid, version = marks(remote)
            cache[remote.id] = (rid, version)
            stages = getattr(remote, "environments", None)
            if stages and all(getattr(e, "deploy_steps", None) is not None for e in stages):
                # complete enough to start a stage (its attempts tell a lost start's answer): no Releases_Get
                self.shared.setdefault("releases", {})[remote.id] = remote
            if rid == release.id and match is None:
                match = remote
            elif version == release.version and rid and rid != release.id and conflict is None:
                conflict = remote
        return match, conflict

    def find(self, release: Release, build_id: str | None = None) -> tuple[Any | None, Any | None]:
        """``(classic release holding release.id, classic release holding the version with another id)``.

        With ``build_id`` (the build the release pins) the releases of that build are searched first
        (a re-run's, and one created before names were marked, is there); when they do not hold it, the
        releases whose name carries the version's :func:`name_mark` (one filtered query, flat with
        history). A match is remembered for the rest of the command (which classic release holds an id
        cannot change). A classic release created by a trainmaster older than the name marks, pinned to
        another build, is not seen as a conflict.
        """
        found = self.shared.setdefault("found", {})
        if release.id in found:
            return found[release.id], None
        known = next((i for i, (rid, _) in self.shared.get("marks", {}).items() if rid == release.id), None)
        if known is not None:  # its marks were read in this command (history, status): the id is enough
            return self.release_of(known), None
        match = conflict = None
        if build_id is not None:
            match, conflict = self._scan(self.releases(build_id), release)
        if match is None:
            named, other = self._scan(self.releases(search=name_mark(release.version)), release)
            match, conflict = named, conflict or other
        if match is not None:
            found[release.id] = match
        return match, conflict

    def remember(self, release: Release, classic: Any) -> None:
        """``classic`` (just created) holds ``release``: later lookups of this command need no request."""
        self.shared.setdefault("found", {})[release.id] = classic
        self.shared.setdefault("marks", {})[classic.id] = (release.id, release.version)

    def release_of(self, classic_id: int) -> Any:
        """The classic release with its stages; read once per command until a stage is started."""
        cache = self.shared.setdefault("releases", {})
        if classic_id not in cache:
            cache[classic_id] = self.client.release.get_release(self.s.project, classic_id)
        return cache[classic_id]

    def stage_read(self, classic: Any, env: Any) -> None:
        """``env`` is the final read of one of ``classic``'s stages: keep ``classic`` with it for the command."""
        if not getattr(classic, "environments", None):
            return
        classic.environments = [env if e.id == env.id else e for e in classic.environments]
        self.shared.setdefault("releases", {})[classic.id] = classic

    def changed(self) -> None:
        """A stage was started: forget the reads of stage and deployment states."""
        self.shared.pop("releases", None)
        self.shared.pop("deployments", None)

    def marks_of(self, release_ids: list[int]) -> dict[int, tuple[str | None, str | None]]:
        """The marks of classic releases, read in batches (``releaseIdFilter``) and kept for the command."""
        cache: dict[int, tuple[str | None, str | None]] = self.shared.setdefault("marks", {})
        missing = [i for i in dict.fromkeys(release_ids) if i not in cache]
        for at in range(0, len(missing), PAGE_SIZE):
            chunk = missing[at : at + PAGE_SIZE]
            query = {
                "definitionId": str(self.definition().id),
                "releaseIdFilter": ",".join(str(i) for i in chunk),
                "$top": str(PAGE_SIZE),
                "propertyFilters": f"{MARK_ID},{MARK_VERSION}",
            }
            items, _ = self._release_page(query)
            for remote in items:
                if getattr(remote, "description", None) is None and not marks(remote)[0]:
                    remote = self.client.release.get_release(self.s.project, remote.id)
                cache[remote.id] = marks(remote)
            for i in chunk:
                cache.setdefault(i, (None, None))
        return {i: cache[i] for i in release_ids}


class Bound:
    """What the Azure DevOps target and ledger share: the settings block they resolve and their way in.

    ``environment`` is ``None`` for the ledger (the top-level block); ``http`` holds the extra
    options of :func:`connect` (tests point it at the fake).
    """

    def __init__(self, config: Config, environment: Environment | None, environ: Mapping[str, str] | None,
                 http: Mapping[str, Any] | None) -> None:
        self.config = config
        self.environment = environment
        self.environ = environ
        self.http = http

    def _settings(self) -> Settings:
        from trainmaster_azure._settings import Settings

        return Settings.resolve(self.config, self.environment, self.environ)

    def _open(self) -> Remote:
        """A :class:`Remote` on the settings' release definition (reads shared for the command)."""
        return Remote.open(self._settings(), self.environ, self.http)
