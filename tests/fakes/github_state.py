"""Repository state and helpers of the GitHub fake (mixed into GitHubFake)."""

from __future__ import annotations

import base64
import itertools
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from .contract import Contract
from .core import ApiError, Request, Response

DOCS = "https://docs.github.com/rest"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Repo:
    owner: str
    name: str
    immutable_releases: bool = False
    releases: dict[int, dict[str, Any]] = field(default_factory=dict)
    assets: dict[int, dict[str, Any]] = field(default_factory=dict)
    blobs: dict[int, bytes | None] = field(default_factory=dict)
    deployments: dict[int, dict[str, Any]] = field(default_factory=dict)
    statuses: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)


class GitHubHelpers:
    """Lookups, representations and pagination shared by the GitHub handlers."""

    contract: Contract
    repos: dict[tuple[str, str], Repo]
    url: str
    origin: str
    lock: Any
    _ids: itertools.count

    def _repo(self, owner: str, repo: str) -> Repo:
        r = self.repos.get((owner.lower(), repo.lower()))
        if r is None:
            raise ApiError(404, "Not Found")
        return r

    def _r(self, req: Request) -> Repo:
        return self._repo(req.params["owner"], req.params["repo"])

    def _api(self, r: Repo) -> str:
        return f"{self.url}/repos/{r.owner}/{r.name}"

    def _environment(self, r: Repo, name: str) -> dict[str, Any]:
        if name.lower() not in {k.lower() for k in r.environments}:
            env = self.contract.example("repos/get-environment")
            env.update(
                id=next(self._ids),
                name=name,
                url=f"{self._api(r)}/environments/{name}",
                html_url=f"{self.origin}/{r.owner}/{r.name}/deployments/activity_log?environments_filter={name}",
                created_at=_now(),
                updated_at=_now(),
                protection_rules=[],
            )
            env["node_id"] = base64.b64encode(f"Environment{env['id']}".encode()).decode()
            r.environments[name] = env
        return next(v for k, v in r.environments.items() if k.lower() == name.lower())

    def _release(self, r: Repo, release_id: Any) -> dict[str, Any]:
        rel = r.releases.get(int(release_id))
        if rel is None:
            raise ApiError(404, "Not Found")
        return rel

    def _with_assets(self, r: Repo, rel: dict[str, Any]) -> dict[str, Any]:
        return {**rel, "assets": [self._clean(a) for a in r.assets.values() if a["_release"] == rel["id"]]}

    def _clean(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _page(self, req: Request, items: list[Any]) -> Response:
        """One page of ``items``; ``Link`` URLs keep the request's whole query (filters, ``per_page``)
        and change only ``page``, as GitHub's do (``prev``/``next``/``last``/``first`` where they apply)."""
        per_page = int(req.query.get("per_page", 30))
        page = int(req.query.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(items) // per_page))
        query = {k: v for k, v in req.query.items() if k != "page"}

        def link(n: int, rel: str) -> str:
            return f'<{self.url}{req.raw_path}?{urlencode({**query, "page": n})}>; rel="{rel}"'

        links = [link(page - 1, "prev")] if page > 1 else []
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links.append(link(1, "first"))
        return Response(200, chunk, {"Link": ", ".join(links)} if links else {})

    def _immutable(self, r: Repo, rel: dict[str, Any]) -> bool:
        return r.immutable_releases and not rel["draft"]

    def _validation(self, resource: str, field_: str, code: str = "already_exists") -> ApiError:
        return ApiError(422, "Validation Failed", errors=[{"resource": resource, "code": code, "field": field_}])

    def _deployment(self, r: Repo, deployment_id: Any) -> dict[str, Any]:
        dep = r.deployments.get(int(deployment_id))
        if dep is None:
            raise ApiError(404, "Not Found")
        return dep
