"""The one HTTP choke point of the GitHub adapter, built on :mod:`trainmaster.http`.

Every request to GitHub goes through :meth:`GitHubClient.send`, which hands it to the core's
:class:`~trainmaster.http.HttpClient` (retries, backoff, budget, lost-response recovery). What
is GitHub's own lives here:

* the session's headers: ``Accept: application/vnd.github+json``,
  ``X-GitHub-Api-Version: 2022-11-28`` and the bearer token (read by
  :func:`trainmaster_github._auth.resolve_token`; never from the config file);
* ``GITHUB_API_URL`` (GitHub Enterprise Server) as the base, asset uploads to the release's own
  ``upload_url``, ``Link: rel="next"`` paging (the next link carries the query);
* rate limits (:class:`GitHubRules`): a 403/429 with ``Retry-After``, with
  ``X-RateLimit-Remaining: 0`` (wait until ``X-RateLimit-Reset``) or with GitHub's secondary
  rate-limit message is a refusal to retry after the wait; a success that used up the limit
  paces the next request until the reset;
* typed errors (401 → :class:`GitHubAuthError`, 403 → :class:`GitHubPermissionError` naming the
  ``permissions:`` grant, 404 → :class:`GitHubNotFound`) with the status,
  ``X-GitHub-Request-Id`` and a body excerpt, never the token;
* a 422 ``already_exists`` after an upload whose answer was lost: the lookup decides.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from trainmaster.errors import ApiError, DigestMismatch, InvalidInput, Unavailable
from trainmaster.http import Call, HttpClient, Retry, RetryPolicy, Rules, new_session, retry_after
from trainmaster.http_body import FileBody
from trainmaster.store import hash_file

__all__ = [
    "API_VERSION",
    "DEFAULT_POLICY",
    "MAX_ASSET_SIZE",
    "GitHubAuthError",
    "GitHubClient",
    "GitHubError",
    "GitHubNotFound",
    "GitHubPermissionError",
    "GitHubRules",
]

API_VERSION = "2022-11-28"
DEFAULT_API_URL = "https://api.github.com"
MAX_ASSET_SIZE = 2 * 1024**3
"""GitHub accepts release assets strictly smaller than 2 GiB."""
CHUNK = 1024 * 1024
SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
DEFAULT_POLICY = RetryPolicy(attempts=6, budget=180.0)
SECONDARY_WAIT = 60.0
"""GitHub's advice for a secondary rate limit without ``Retry-After``: wait at least a minute."""


class GitHubError(ApiError):
    """GitHub answered with an error that retrying will not fix (exit 2)."""

    answer = ""
    """GitHub's own message (``message`` and the ``errors`` codes), token scrubbed."""


class GitHubAuthError(GitHubError):
    """401: the token is missing, expired or wrong."""


class GitHubPermissionError(GitHubError):
    """403 that is not a rate limit: the token lacks a permission."""


class GitHubNotFound(GitHubError):
    """404: the object (or, for a collection, the repository) does not exist or is invisible."""


class GitHubRules(Rules):
    """GitHub's rate limits and error shape for :class:`~trainmaster.http.HttpClient`."""

    def __init__(self, token: str, clock: Callable[[], float] = time.time) -> None:
        super().__init__("GitHub", secrets=[token], request_id_headers=("X-GitHub-Request-Id",))
        self.clock = clock

    def classify(self, response: requests.Response, attempt: int) -> Retry | None:
        """Rate limits (403/429) are refusals (never applied): retried after GitHub's wait."""
        if response.status_code in (403, 429):
            wait = self._rate_limit_wait(response)
            if wait is None and response.status_code == 403:
                return None  # a missing permission
            return Retry(wait=wait, applied=False, reason="GitHub rate limit")
        return super().classify(response, attempt)

    def _rate_limit_wait(self, response: requests.Response) -> float | None:
        wait = retry_after(response.headers, clock=self.clock)
        if wait is not None:
            return wait
        if response.headers.get("X-RateLimit-Remaining") == "0":
            reset = _to_float(response.headers.get("X-RateLimit-Reset"))
            return max(0.0, reset - self.clock()) + 1 if reset else SECONDARY_WAIT
        if "rate limit" in _message(response).lower():
            return SECONDARY_WAIT
        return None

    def pace(self, response: requests.Response) -> float | None:
        """After a success that used up the primary rate limit, wait for its reset before the next call."""
        if response.status_code >= 400 or response.headers.get("X-RateLimit-Remaining") != "0":
            return None
        wait = _to_float(response.headers.get("X-RateLimit-Reset")) - self.clock()
        return wait + 1 if wait > 0 else None

    def error(self, response: requests.Response, call: Call) -> Exception:
        answer = self.scrub(_message(response)) or self.excerpt(response)
        err = GitHubError(f"GitHub refused to {call.what}: {answer}", **self.details(response, call))
        err.answer = answer
        return err


class GitHubClient:
    """A GitHub REST client for one repository.

    :param repository: ``owner/name``.
    :param token: the token value (kept out of every repr, message and log).
    :param token_source: the variable the token came from, named in messages.
    :param api_url: the REST base (``GITHUB_API_URL`` on GitHub Enterprise Server).
    :param policy: attempts, backoff, budget and ``sleep`` (tests record sleeps instead of waiting).
    :param clock: the time, for rate-limit resets.
    """

    def __init__(
        self,
        repository: str,
        token: str,
        *,
        token_source: str = "GITHUB_TOKEN",
        api_url: str = DEFAULT_API_URL,
        timeout: tuple[float, float] = (10.0, 60.0),
        upload_timeout: tuple[float, float] = (10.0, 600.0),
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
    ) -> None:
        owner, _, name = repository.partition("/")
        if not owner or not name or "/" in name:
            raise InvalidInput(
                f"GitHub repository {repository!r} is not of the form OWNER/NAME: "
                "set GITHUB_REPOSITORY or github.repository in trainmaster.yaml"
            )
        self.repository = repository
        self.repo_path = f"/repos/{owner}/{name}"
        self.api_url = api_url.rstrip("/")
        self.token_source = token_source
        self.upload_timeout = upload_timeout
        session = session or new_session(timeout=timeout)
        session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "Authorization": f"Bearer {token}",
            }
        )
        self.http = HttpClient(
            session=session, policy=policy or DEFAULT_POLICY, rules=GitHubRules(token, clock), timeout=timeout
        )

    def __repr__(self) -> str:
        return f"GitHubClient({self.repository!r}, api_url={self.api_url!r}, token_source={self.token_source!r})"

    def url(self, path: str) -> str:
        """An absolute URL: ``path`` as is when absolute, else under the API base."""
        return path if path.startswith(("http://", "https://")) else self.api_url + path

    def send(self, method: str, path: str, *, what: str, params: Mapping[str, Any] | None = None, json: Any = None,
             data: Any = None, headers: Mapping[str, str] | None = None, ok: tuple[int, ...] = (200,),
             permission: str | None = None, repo_404: bool = False, idempotent: bool | None = None,
             recover: Callable[[], Any] | None = None, stream: bool = False,
             timeout: tuple[float, float] | None = None) -> Any:
        """Send one request through the core; return the :class:`requests.Response`, or ``recover()``'s result.

        :param what: a short description ("create the release v1.2.3") used in messages.
        :param data: a body, or a factory making a fresh body for every attempt (streamed uploads).
        :param ok: the statuses that count as success.
        :param permission: the ``permissions:`` grant a 403 would point at (``contents: write``).
        :param repo_404: a 404 means the repository itself is missing (collection endpoints).
        :param recover: for a POST whose answer was lost: the object if the call took effect, else None.
        """
        try:
            return self.http.send(
                method,
                self.url(path),
                what=what,
                params=params,
                json=json,
                data=data,
                headers=headers,
                ok=ok,
                idempotent=idempotent,
                recover=recover,
                stream=stream,
                timeout=timeout,
            )
        except GitHubError as exc:
            raise self._typed(exc, what, permission, repo_404) from None

    def call(self, method: str, path: str, *, what: str, ok: tuple[int, ...] = (200, 201), **kw: Any) -> Any:
        """:meth:`send` and return the JSON body (``None`` for an empty one)."""
        resp = self.send(method, path, what=what, ok=ok, **kw)
        if not isinstance(resp, requests.Response):
            return resp
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    def delete(self, path: str, *, what: str, permission: str = "contents: write") -> None:
        """DELETE ``path``; a 404 means it is already gone, which is what was asked."""
        try:
            self.call("DELETE", path, ok=(204,), what=what, permission=permission)
        except GitHubNotFound:
            pass

    def paginate(
        self,
        path: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        permission: str | None = None,
        repo_404: bool = True,
        limit: int | None = None,
    ) -> Iterator[Any]:
        """Yield every item of a list endpoint (100 a page), following ``Link: rel="next"``.

        GitHub's next link keeps the query (filters, ``per_page``), so it is followed as is. The
        answer is remote data: a page that is not a list, or a link back to a page already read, is
        a :class:`GitHubError`.
        """
        query: dict[str, Any] | None = {"per_page": 100, **(params or {})}
        url: str | None = path
        count = 0
        seen: set[str] = set()
        while url:
            seen.add(url)
            resp = self.send("GET", url, what=what, params=query, permission=permission, repo_404=repo_404)
            page = resp.json()
            if not isinstance(page, list):
                raise GitHubError(f"GitHub answered something that is not a list while trying to {what}")
            for item in page:
                yield item
                count += 1
                if limit is not None and count >= limit:
                    return
            url = resp.links.get("next", {}).get("url")
            if url and urlsplit(self.url(url)).netloc != urlsplit(self.api_url).netloc:
                raise GitHubError(f"GitHub sent a next-page link to another host while trying to {what}")
            if url in seen:  # a page already read: following it would never end
                raise GitHubError(f"GitHub sent a next-page link to a page already read while trying to {what}")
            query = None

    def upload_asset(
        self,
        upload_url: str,
        name: str,
        path: Path,
        *,
        content_type: str,
        recover: Callable[[], Any],
        label: str | None = None,
        verify: str | None = None,
    ) -> Any:
        """Stream ``path`` as the release asset ``name`` (constant memory); return the asset JSON.

        ``upload_url`` is the release's URI template (``…/assets{?name,label}``). ``recover()`` is
        called when the outcome is unknown (connection reset, lost 201, a 422 "already exists"):
        it returns the complete asset, or removes a partial one and returns None so the upload is
        repeated.

        ``verify`` (``sha256:…``): the asset GitHub answers with carries ``digest``, GitHub's own
        SHA-256 of the bytes it received; when it is not the pinned digest the uploaded asset is
        deleted and :class:`DigestMismatch` raised (exit 4): a store file altered since it was
        pinned is never left on GitHub. The file is read once, as it is sent (1 MiB blocks, read
        ahead in a thread), and hashed here only when the answer has no digest (a GitHub Enterprise
        Server older than asset digests).
        """
        size = path.stat().st_size
        if size >= MAX_ASSET_SIZE:
            raise InvalidInput(f"{path.name} is {size} bytes; GitHub release assets must be smaller than 2 GiB")
        base = upload_url.split("{", 1)[0]
        params = {"name": name, **({"label": label} if label else {})}
        what = f"upload the asset {name}"
        attempts = self.http.policy.attempts
        body = FileBody(path, hashes=())  # one pass, 1 MiB blocks read ahead while the previous one is sent

        for _ in range(attempts):
            try:
                resp = self.send(
                    "POST",
                    base,
                    what=what,
                    params=params,
                    data=lambda: body,
                    headers={"Content-Type": content_type},
                    ok=(201,),
                    permission="contents: write",
                    recover=recover,
                    timeout=self.upload_timeout,
                )
            except GitHubError as exc:
                if exc.status_code != 422:
                    raise
                found = recover()  # "already_exists": an earlier attempt whose answer was lost landed
                if found is None:
                    continue
                resp = found
            asset = resp.json() if isinstance(resp, requests.Response) else resp
            if verify:
                self._verify_asset(asset, name, path, verify)
            return asset
        raise Unavailable(f"could not {what} after {attempts} attempts; re-run to resume (a re-run is safe)")

    def _verify_asset(self, asset: Any, name: str, path: Path, pinned: str) -> None:
        """GitHub's digest of the uploaded ``asset`` against ``pinned``; a mismatch deletes it (exit 4)."""
        got = asset.get("digest") if isinstance(asset, Mapping) else None
        if isinstance(got, str) and SHA256_DIGEST.fullmatch(got):
            what = f"GitHub received {got} for {name} (uploaded from {path})"
        else:  # no digest in the answer: hash what is stored (the bytes were just sent from it)
            got = hash_file(path)[0]
            what = f"{path} hashed to {got} while it was uploaded as {name}"
        if got != pinned:
            self._delete_asset(asset, name)
            raise DigestMismatch(
                f"{what}, not the pinned {pinned}: the store was altered; the uploaded asset was deleted "
                "(restore the store from a trusted copy: `trainmaster release fetch`)"
            )

    def _delete_asset(self, asset: Mapping[str, Any], name: str) -> None:
        if not isinstance(asset, Mapping) or "id" not in asset:
            return
        self.delete(f"{self.repo_path}/releases/assets/{asset['id']}", what=f"delete the asset {name}")

    def download_asset(self, asset_id: int, dest: Path, *, what: str) -> str:
        """Download an asset to ``dest`` in chunks; return its ``sha256:`` digest.

        A connection lost mid-body fails the attempt, which the core repeats (a GET is idempotent).
        """
        url = self.url(f"{self.repo_path}/releases/assets/{asset_id}")
        tmp = dest.with_name(dest.name + ".part")
        digest: list[str] = []

        def attempt() -> requests.Response:
            resp = self.http.session.request(
                "GET", url, headers={"Accept": "application/octet-stream"}, stream=True, timeout=self.http.timeout
            )
            if resp.status_code != 200:
                return resp
            hasher = hashlib.sha256()
            try:
                with tmp.open("wb") as out:
                    for chunk in resp.iter_content(CHUNK):
                        hasher.update(chunk)
                        out.write(chunk)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            finally:
                resp.close()
            digest.append("sha256:" + hasher.hexdigest())
            return resp

        try:
            self.http.run("GET", url, attempt, what=what, ok=(200,))
        except GitHubError as exc:
            raise self._typed(exc, what, "contents: read", False) from None
        tmp.replace(dest)
        return digest[-1]

    def _typed(self, exc: GitHubError, what: str, permission: str | None, repo_404: bool) -> GitHubError:
        """The error a user can act on: which token, which grant, which setting."""
        status, answer = exc.status_code, exc.answer
        kw: dict[str, Any] = {
            "status_code": status,
            "request_id": exc.request_id,
            "body_excerpt": exc.body_excerpt,
            "method": exc.method,
            "url": exc.url,
        }
        if status == 401:
            return GitHubAuthError(
                f"GitHub rejected the token in {self.token_source} ({answer}) while trying "
                f"to {what}: put a valid token in {self.token_source}",
                **kw,
            )
        if status == 403:
            grant = f"grant the job `permissions: {permission}`" if permission else "grant the missing permission"
            return GitHubPermissionError(
                f"the token in {self.token_source} may not {what} in {self.repository} "
                f"({answer}): {grant} (or the equivalent scope for a personal token)",
                **kw,
            )
        if status == 404 and repo_404:
            return GitHubNotFound(
                f"repository {self.repository} was not found or the token cannot see it "
                f"(while trying to {what}): check GITHUB_REPOSITORY or github.repository "
                "in trainmaster.yaml, and the token's access",
                **kw,
            )
        if status == 404:
            return GitHubNotFound(f"not found while trying to {what} in {self.repository}", **kw)
        return exc


def _message(resp: requests.Response) -> str:
    """GitHub's ``message`` and the codes of its ``errors`` list, or ``""``."""
    try:
        data = resp.json()
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    text = str(data.get("message") or "")
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        details = [e.get("code") or e.get("message") for e in errors if isinstance(e, dict)]
        text += " [" + ", ".join(str(d) for d in details if d) + "]"
    return text[:300]


def _to_float(value: str | None) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0
