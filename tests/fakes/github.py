"""Fake GitHub REST API (api.github.com, version 2022-11-28).

Checked against tests/contracts/github.openapi.json.

API base (``GITHUB_API_URL``): ``http://127.0.0.1:PORT``. Uploads base: ``http://127.0.0.1:PORT/uploads``
(stands for uploads.github.com; ``upload_url`` in releases points there). Run alone with
``python -m tests.fakes.github --port 0``. Deployment and environment handlers are in github_deployments.py.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import re
import time
from typing import Any

from .contract import Contract, ContractViolation, load
from .core import ApiError, FakeService, Fault, Request, Response, operation
from .github_deployments import GitHubDeployments
from .github_state import DOCS, GitHubHelpers, Repo, _now
from .server import run_cli

API_VERSIONS = {"2022-11-28", "2026-03-10"}


def asset_display_name(requested: str) -> str:
    """The name GitHub gives an uploaded asset: each run of characters outside ``[A-Za-z0-9._-]``
    becomes one ``.``, and leading and trailing dots are stripped (``my app+1.bin`` → ``my.app.1.bin``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", ".", requested).strip(".") or "default"


class GitHubFake(GitHubDeployments, GitHubHelpers, FakeService):
    """Stateful GitHub fake. Attributes for tests: ``url``, ``uploads_url``, ``token``, ``repos``."""

    name = "github"
    DRIVERS = (
        "seed_repo",
        "set_environment",
        "approve_deployment",
        "reject_deployment",
        "hold_next_deployment",
        "rate_limit_exhausted",
        "secondary_rate_limit",
        "add_token",
    )

    def known_response_gap(self, op_id: str, error: Any) -> bool:
        """GitHub reports deployments held by protection rules with the state ``waiting`` (its webhooks'
        ``deployment_status`` schema lists it); the REST description's status enum does not."""
        return op_id.startswith("repos/") and "status" in op_id and error.instance == "waiting"

    def __init__(self, *, token: str = "test-token", store_asset_bytes: bool = True):
        super().__init__()
        self.hold_next = 0
        self.contract: Contract = load("github.openapi.json")
        self.tokens = {token}
        self.token = token
        self.store_asset_bytes = store_asset_bytes
        self.repos: dict[tuple[str, str], Repo] = {}
        self._ids = itertools.count(1)
        self.seed_repo("acme", "app")

    # -- drivers -----------------------------------------------------------------------------
    def seed_repo(self, owner: str, repo: str, *, immutable_releases: bool = False) -> Repo:
        """Create (or reconfigure) a repository; ``immutable_releases`` makes published releases immutable."""
        with self.lock:
            r = self.repos.setdefault((owner.lower(), repo.lower()), Repo(owner, repo))
            r.immutable_releases = immutable_releases
            return r

    def add_token(self, token: str) -> None:
        """Accept another token (``Authorization: Bearer <token>`` or ``token <token>``)."""
        self.tokens.add(token)

    def rate_limit_exhausted(self, *, reset_in: int = 60, count: int = 1, **match: Any) -> Fault:
        """Primary rate limit: 403 with ``X-RateLimit-Remaining: 0`` and ``X-RateLimit-Reset``."""
        headers = {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Used": "5000",
            "X-RateLimit-Reset": str(int(time.time()) + reset_in),
            "X-RateLimit-Resource": "core",
        }
        body = {
            "message": "API rate limit exceeded for user ID 1.",
            "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api",
        }
        return self.inject("status", status=403, headers=headers, body=body, count=count, **match)

    def secondary_rate_limit(self, *, retry_after: int = 1, count: int = 1, **match: Any) -> Fault:
        """Secondary rate limit: 403 with ``Retry-After`` and the secondary-limit message."""
        body = {
            "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api",
        }
        return self.inject(
            "status", status=403, headers={"Retry-After": str(retry_after)}, body=body, count=count, **match
        )

    def asset_bytes(self, owner: str, repo: str, asset_id: int) -> bytes | None:
        """The uploaded bytes of an asset (None when the fake runs with ``store_asset_bytes=False``)."""
        return self._repo(owner, repo).blobs.get(int(asset_id))

    # -- service hooks -----------------------------------------------------------------------
    def on_start(self) -> None:
        self.url = self.origin
        self.uploads_url = self.origin + "/uploads"

    def contracts_for(self, host: str) -> list[Contract]:
        return [self.contract]

    def route(self, path: str) -> tuple[str, str]:
        if path == "/uploads" or path.startswith("/uploads/"):
            return "uploads", path[len("/uploads") :] or "/"
        return "api", path

    def error_body(self, status: int, message: str, **extra: Any) -> Any:
        return {"message": message, "documentation_url": DOCS, "status": str(status), **extra}

    def authenticate(self, req: Request) -> Response | None:
        auth = req.headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        if not auth:
            return Response(401, {"message": "Requires authentication", "documentation_url": DOCS, "status": "401"})
        if scheme.lower() not in ("bearer", "token") or token.strip() not in self.tokens:
            return Response(401, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"})
        return None

    def check_semantics(self, req: Request) -> None:
        op = req.match.operation  # type: ignore[union-attr]
        if op.servers and req.host != "uploads":
            raise ContractViolation(
                404, f"{op.operation_id} is served by the uploads host ({self.uploads_url}), not the API host"
            )
        if not op.servers and req.host == "uploads":
            raise ContractViolation(404, f"{op.operation_id} is not served by the uploads host")
        version = req.headers.get("X-GitHub-Api-Version")
        if version and version not in API_VERSIONS:
            raise ContractViolation(400, f"API version {version} is not supported.")

    def fault_status_headers(self, fault: Fault) -> dict[str, str]:
        return dict(fault.headers)

    def handle(self, req: Request, call: Any) -> Response | str:
        resp = super().handle(req, call)
        if isinstance(resp, Response):
            resp.headers.setdefault("X-GitHub-Api-Version-Selected", "2022-11-28")
            resp.headers.setdefault("X-RateLimit-Limit", "5000")
            resp.headers.setdefault("X-RateLimit-Remaining", "4999")
            resp.headers.setdefault("X-RateLimit-Reset", str(int(time.time()) + 3600))
        return resp

    def admin_download(self, path: str) -> Response | None:
        parts = path.split("/")  # /_fake/download/github/<owner>/<repo>/<asset_id>/<name>
        if len(parts) < 7:
            return Response(404, {"message": "Not Found"})
        blob = self._repo(parts[4], parts[5]).blobs.get(int(parts[6]))
        if blob is None:
            return Response(410, {"message": "asset bytes were not kept (store_asset_bytes=False)"})
        return Response(200, blob, {"Content-Type": "application/octet-stream"})

    # -- releases ----------------------------------------------------------------------------
    @operation("repos/list-releases")
    def list_releases(self, req: Request) -> Response:
        r = self._r(req)
        rels = sorted(r.releases.values(), key=lambda x: -x["id"])
        return self._page(req, [self._clean(self._with_assets(r, x)) for x in rels])

    @operation("repos/create-release")
    def create_release(self, req: Request) -> Response:
        r, body = self._r(req), req.json
        tag = body["tag_name"]
        if any(x["tag_name"] == tag and not x["draft"] for x in r.releases.values()):
            raise self._validation("Release", "tag_name")
        rid = next(self._ids)
        rel = self.contract.example("repos/create-release", "201")
        api = self._api(r)
        draft = bool(body.get("draft", False))
        rel.update(
            id=rid,
            node_id=base64.b64encode(f"RE_{rid}".encode()).decode(),
            tag_name=tag,
            url=f"{api}/releases/{rid}",
            assets_url=f"{api}/releases/{rid}/assets",
            upload_url=f"{self.uploads_url}/repos/{r.owner}/{r.name}/releases/{rid}/assets{{?name,label}}",
            html_url=f"{self.origin}/{r.owner}/{r.name}/releases/tag/{tag}",
            tarball_url=f"{api}/tarball/{tag}",
            zipball_url=f"{api}/zipball/{tag}",
            target_commitish=body.get("target_commitish", "main"),
            name=body.get("name", tag),
            body=body.get("body", ""),
            draft=draft,
            prerelease=bool(body.get("prerelease", False)),
            created_at=_now(),
            published_at=None if draft else _now(),
            immutable=r.immutable_releases and not draft,
            assets=[],
        )
        rel.pop("discussion_url", None)
        r.releases[rid] = rel
        return Response(201, self._clean(self._with_assets(r, rel)), {"Location": rel["url"]})

    @operation("repos/get-release")
    def get_release(self, req: Request) -> Response:
        r = self._r(req)
        return Response(200, self._clean(self._with_assets(r, self._release(r, req.params["release_id"]))))

    @operation("repos/get-release-by-tag")
    def get_release_by_tag(self, req: Request) -> Response:
        r = self._r(req)
        for rel in r.releases.values():
            if rel["tag_name"] == req.params["tag"] and not rel["draft"]:
                return Response(200, self._clean(self._with_assets(r, rel)))
        raise ApiError(404, "Not Found")

    @operation("repos/get-latest-release")
    def get_latest_release(self, req: Request) -> Response:
        r = self._r(req)
        published = [x for x in r.releases.values() if not x["draft"] and not x["prerelease"]]
        if not published:
            raise ApiError(404, "Not Found")
        return Response(200, self._clean(self._with_assets(r, max(published, key=lambda x: x["published_at"]))))

    @operation("repos/update-release")
    def update_release(self, req: Request) -> Response:
        r, body = self._r(req), req.json or {}
        rel = self._release(r, req.params["release_id"])
        if self._immutable(r, rel):
            if "tag_name" in body and body["tag_name"] != rel["tag_name"]:
                raise ApiError(422, "Cannot change the tag of an immutable release")
            if body.get("draft") is True:
                raise ApiError(422, "Cannot unpublish an immutable release")
        for key in ("tag_name", "target_commitish", "name", "body", "prerelease"):
            if key in body:
                rel[key] = body[key]
        if "draft" in body and rel["draft"] and not body["draft"]:
            if any(x["tag_name"] == rel["tag_name"] and not x["draft"] for x in r.releases.values()):
                raise self._validation("Release", "tag_name")
            rel.update(draft=False, published_at=_now(), immutable=r.immutable_releases)
        elif "draft" in body:
            rel["draft"] = bool(body["draft"])
        rel["html_url"] = f"{self.origin}/{r.owner}/{r.name}/releases/tag/{rel['tag_name']}"
        return Response(200, self._clean(self._with_assets(r, rel)))

    @operation("repos/delete-release")
    def delete_release(self, req: Request) -> Response:
        r = self._r(req)
        rel = self._release(r, req.params["release_id"])
        for aid in [a["id"] for a in r.assets.values() if a["_release"] == rel["id"]]:
            r.assets.pop(aid)
            r.blobs.pop(aid, None)
        del r.releases[rel["id"]]
        return Response(204)

    # -- assets ------------------------------------------------------------------------------
    @operation("repos/list-release-assets")
    def list_assets(self, req: Request) -> Response:
        r = self._r(req)
        rel = self._release(r, req.params["release_id"])
        return self._page(req, [self._clean(a) for a in r.assets.values() if a["_release"] == rel["id"]])

    @operation("repos/upload-release-asset")
    def upload_asset(self, req: Request) -> Response:
        with self.lock:
            r = self._r(req)
            rel = self._release(r, req.params["release_id"])
            name = asset_display_name(req.query["name"])
            if self._immutable(r, rel):
                req.body.drain()
                raise ApiError(422, "Cannot upload assets to an immutable release.")
            if any(a["name"] == name and a["_release"] == rel["id"] for a in r.assets.values()):
                req.body.drain()
                raise self._validation("ReleaseAsset", "name")
        digest, size, parts = hashlib.sha256(), 0, []
        for chunk in req.body:  # streamed: never the whole body in memory unless bytes are kept
            digest.update(chunk)
            size += len(chunk)
            if self.store_asset_bytes:
                parts.append(chunk)
        if size == 0:
            raise ApiError(400, "Bad Content-Length")
        with self.lock:
            aid = next(self._ids)
            asset = self.contract.example("repos/upload-release-asset", "201")
            asset.update(
                id=aid,
                node_id=base64.b64encode(f"RA_{aid}".encode()).decode(),
                name=name,
                label=req.query.get("label", ""),
                state="uploaded",
                size=size,
                content_type=req.headers.get("Content-Type") or "application/octet-stream",
                digest="sha256:" + digest.hexdigest(),
                download_count=0,
                created_at=_now(),
                updated_at=_now(),
                url=f"{self._api(r)}/releases/assets/{aid}",
                browser_download_url=f"{self.origin}/_fake/download/github/{r.owner}/{r.name}/{aid}/{name}",
                _release=rel["id"],
            )
            r.assets[aid] = asset
            r.blobs[aid] = b"".join(parts) if self.store_asset_bytes else None
            return Response(201, self._clean(asset))

    def _asset(self, req: Request) -> tuple[Repo, dict[str, Any]]:
        r = self._r(req)
        asset = r.assets.get(int(req.params["asset_id"]))
        if asset is None:
            raise ApiError(404, "Not Found")
        return r, asset

    @operation("repos/get-release-asset")
    def get_asset(self, req: Request) -> Response:
        r, asset = self._asset(req)
        if "application/octet-stream" in (req.headers.get("Accept") or ""):
            return Response(302, None, {"Location": asset["browser_download_url"]})
        return Response(200, self._clean(asset))

    @operation("repos/update-release-asset")
    def update_asset(self, req: Request) -> Response:
        r, asset = self._asset(req)
        if self._immutable(r, r.releases[asset["_release"]]):
            raise ApiError(422, "Cannot modify assets of an immutable release.")
        for key in ("name", "label", "state"):
            if key in (req.json or {}):
                asset[key] = req.json[key]
        asset["updated_at"] = _now()
        return Response(200, self._clean(asset))

    @operation("repos/delete-release-asset")
    def delete_asset(self, req: Request) -> Response:
        r, asset = self._asset(req)
        if self._immutable(r, r.releases[asset["_release"]]):
            raise ApiError(422, "Cannot delete assets of an immutable release.")
        del r.assets[asset["id"]]
        r.blobs.pop(asset["id"], None)
        return Response(204)

    # -- rate limit --------------------------------------------------------------------------
    @operation("rate-limit/get")
    def rate_limit(self, req: Request) -> Response:
        return Response(200, self.contract.example("rate-limit/get"))


def main(argv: list[str] | None = None) -> None:
    def extra(p: argparse.ArgumentParser) -> None:
        p.add_argument("--token", default="test-token", help="the token clients must send")
        p.add_argument("--discard-uploads", action="store_true", help="keep only digest and size of assets")
        p.add_argument(
            "--immutable",
            action="append",
            default=[],
            metavar="OWNER/REPO",
            help="seed a repository with immutable releases",
        )

    def factory(args: argparse.Namespace) -> GitHubFake:
        fake = GitHubFake(token=args.token, store_asset_bytes=not args.discard_uploads)
        for full in args.immutable:
            owner, repo = full.split("/", 1)
            fake.seed_repo(owner, repo, immutable_releases=True)
        return fake

    run_cli(factory, argv, extra)


if __name__ == "__main__":
    main()
