"""The one HTTP choke point of the GitHub adapter.

Every request to GitHub goes through :meth:`GitHubClient.send`:

* a :class:`requests.Session` with ``Accept: application/vnd.github+json``,
  ``X-GitHub-Api-Version: 2022-11-28`` and the bearer token (read from
  ``GITHUB_TOKEN``, ``GH_TOKEN`` or a variable the config *names*; never from
  the config file itself);
* ``GITHUB_API_URL`` (GitHub Enterprise Server) as the base, asset uploads to
  the release's own ``upload_url``;
* a timeout on every call, retries with exponential backoff and jitter on
  connection errors, timeouts, 5xx and rate limits, honouring ``Retry-After``,
  ``X-RateLimit-Remaining``/``X-RateLimit-Reset`` and secondary rate limits,
  within a total sleep budget; all sleeps go through an injectable ``sleep``;
* non-idempotent calls whose effect is unknown (lost response) are never
  blindly repeated: the caller's ``recover`` looks the object up first;
* typed errors with the status, ``X-GitHub-Request-Id`` and a body excerpt,
  never the token.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from trainmaster.errors import InvalidInput
from trainmaster_github._http import (
    CHUNK,
    RETRY_STATUSES,
    GitHubAuthError,
    GitHubError,
    GitHubNotFound,
    GitHubPermissionError,
    GitHubUnavailable,
    RetryPolicy,
    _FileBody,
    _message,
    _never_sent,
    _retry_after,
    _to_float,
    build_error,
    resolve_token,
)

__all__ = [
    "API_VERSION",
    "MAX_ASSET_SIZE",
    "GitHubAuthError",
    "GitHubClient",
    "GitHubError",
    "GitHubNotFound",
    "GitHubPermissionError",
    "GitHubUnavailable",
    "RetryPolicy",
    "resolve_token",
]

API_VERSION = "2022-11-28"
DEFAULT_API_URL = "https://api.github.com"
MAX_ASSET_SIZE = 2 * 1024**3
"""GitHub accepts release assets strictly smaller than 2 GiB."""


class GitHubClient:
    """A GitHub REST client for one repository.

    :param repository: ``owner/name``.
    :param token: the token value (kept out of every repr, message and log).
    :param token_source: the variable the token came from, named in messages.
    :param api_url: the REST base (``GITHUB_API_URL`` on GitHub Enterprise Server).
    :param sleep: called for every wait, so tests record sleeps instead of waiting.
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
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
        user_agent: str = "trainmaster",
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
        self._token = token
        self.timeout = timeout
        self.upload_timeout = upload_timeout
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()
        self.slept = 0.0
        self._blocked_until = 0.0
        self.session = session or requests.Session()
        self.session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": user_agent,
                "Authorization": f"Bearer {token}",
            }
        )

    def __repr__(self) -> str:
        return f"GitHubClient({self.repository!r}, api_url={self.api_url!r}, token_source={self.token_source!r})"

    # -- the choke point ---------------------------------------------------------------------
    def url(self, path: str) -> str:
        """An absolute URL: ``path`` as is when absolute, else under the API base."""
        return path if path.startswith(("http://", "https://")) else self.api_url + path

    def send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        body: Callable[[], Any] | None = None,
        headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
        permission: str | None = None,
        repo_404: bool = False,
        idempotent: bool | None = None,
        recover: Callable[[], Any] | None = None,
        stream: bool = False,
        timeout: tuple[float, float] | None = None,
    ) -> Any:
        """Send one request with retries; return the :class:`requests.Response`, or ``recover()``'s result.

        :param what: a short description ("create the release v1.2.3") used in messages.
        :param body: a factory making a fresh request body for every attempt (streamed uploads).
        :param ok: the statuses that count as success.
        :param permission: the ``permissions:`` grant a 403 would point at (``contents: write``).
        :param repo_404: a 404 means the repository itself is missing (collection endpoints).
        :param idempotent: defaults to True for GET/PUT/DELETE/PATCH, False for POST. A non-idempotent
            call whose outcome is unknown is retried only after ``recover()`` returned None.
        :param recover: looks up whether the lost call took effect; a non-None result is returned as is.
        """
        if idempotent is None:
            idempotent = method.upper() != "POST"
        url = self.url(path)
        attempt = 0
        while True:
            attempt += 1
            self._wait_for_primary_reset(what)
            data = body() if body is not None else None
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=headers,
                    stream=stream,
                    timeout=timeout or self.timeout,
                    allow_redirects=True,
                )
            except requests.RequestException as exc:
                sent = not _never_sent(exc)
                reason = f"{type(exc).__name__} while trying to {what}"
                if sent and not idempotent:
                    found = recover() if recover is not None else None
                    if found is not None:
                        return found
                    if recover is None:
                        raise GitHubUnavailable(
                            f"{reason}; the outcome is unknown and the call is not "
                            "safe to repeat blindly: re-run to reconcile"
                        ) from None
                self._backoff(attempt, reason, None, None)
                continue
            finally:
                if data is not None and hasattr(data, "close"):
                    data.close()
            self._note_rate(resp)
            if resp.status_code in ok:
                return resp
            request_id = resp.headers.get("X-GitHub-Request-Id")
            wait = self._rate_limit_wait(resp, attempt)
            if wait is not None:
                self._sleep_within_budget(
                    wait, f"GitHub rate limit while trying to {what}", resp.status_code, request_id
                )
                if attempt >= self.retry.attempts:
                    raise GitHubUnavailable(
                        f"still rate-limited after {attempt} attempts to {what}; re-run later",
                        status_code=resp.status_code,
                        request_id=request_id,
                    )
                continue
            if resp.status_code in RETRY_STATUSES:
                if not idempotent:
                    found = recover() if recover is not None else None
                    if found is not None:
                        return found
                    if recover is None:
                        raise GitHubUnavailable(
                            f"GitHub failed to {what} and the outcome is unknown; re-run to reconcile",
                            status_code=resp.status_code,
                            request_id=request_id,
                        )
                self._backoff(attempt, f"GitHub failed to {what}", resp.status_code, request_id)
                continue
            raise self._error(resp, what, permission, repo_404)

    def call(self, method: str, path: str, *, what: str, ok: tuple[int, ...] = (200, 201), **kw: Any) -> Any:
        """:meth:`send` and return the JSON body (``None`` for an empty one)."""
        resp = self.send(method, path, what=what, ok=ok, **kw)
        if not isinstance(resp, requests.Response):
            return resp
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

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
        """Yield every item of a list endpoint, following ``Link: rel="next"``."""
        query: dict[str, Any] | None = {"per_page": 100, **(params or {})}
        url: str | None = path
        count = 0
        while url:
            resp = self.send("GET", url, what=what, params=query, permission=permission, repo_404=repo_404)
            for item in resp.json():
                yield item
                count += 1
                if limit is not None and count >= limit:
                    return
            url = resp.links.get("next", {}).get("url")
            if url and urlsplit(self.url(url)).netloc != urlsplit(self.api_url).netloc:
                raise GitHubError(f"GitHub sent a next-page link to another host while trying to {what}")
            query = None  # the next link carries the query

    # -- assets ------------------------------------------------------------------------------
    def upload_asset(
        self,
        upload_url: str,
        name: str,
        path: Path,
        *,
        content_type: str,
        recover: Callable[[], Any],
        label: str | None = None,
    ) -> Any:
        """Stream ``path`` as the release asset ``name`` (constant memory); return the asset JSON.

        ``upload_url`` is the release's URI template (``…/assets{?name,label}``). ``recover()`` is
        called when the outcome is unknown (connection reset, lost 201, a 422 "already exists"):
        it returns the complete asset, or removes a partial one and returns None so the upload is
        repeated.
        """
        size = path.stat().st_size
        if size >= MAX_ASSET_SIZE:
            raise InvalidInput(f"{path.name} is {size} bytes; GitHub release assets must be smaller than 2 GiB")
        base = upload_url.split("{", 1)[0]
        params = {"name": name, **({"label": label} if label else {})}
        what = f"upload the asset {name}"
        for _ in range(self.retry.attempts):
            try:
                resp = self.send(
                    "POST",
                    base,
                    what=what,
                    params=params,
                    body=lambda: _FileBody(path, size),
                    headers={"Content-Type": content_type},
                    ok=(201,),
                    permission="contents: write",
                    recover=recover,
                    timeout=self.upload_timeout,
                )
            except GitHubError as exc:
                if exc.status_code != 422:
                    raise
                found = recover()  # "already_exists": a previous attempt landed
                if found is None:
                    continue
                return found
            return resp.json() if isinstance(resp, requests.Response) else resp
        raise GitHubUnavailable(f"could not {what} after {self.retry.attempts} attempts; re-run to resume")

    def download_asset(self, asset_id: int, dest: Path, *, what: str) -> str:
        """Download an asset to ``dest`` in chunks; return its ``sha256:`` digest."""
        path = f"{self.repo_path}/releases/assets/{asset_id}"
        for attempt in range(1, self.retry.attempts + 1):
            resp = self.send(
                "GET",
                path,
                what=what,
                headers={"Accept": "application/octet-stream"},
                stream=True,
                permission="contents: read",
            )
            digest = hashlib.sha256()
            tmp = dest.with_name(dest.name + ".part")
            try:
                with tmp.open("wb") as out:
                    for chunk in resp.iter_content(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            except requests.RequestException:
                tmp.unlink(missing_ok=True)
                self._backoff(attempt, f"connection lost while trying to {what}", None, None)
                continue
            finally:
                resp.close()
            tmp.replace(dest)
            return "sha256:" + digest.hexdigest()
        raise GitHubUnavailable(f"could not {what} after {self.retry.attempts} attempts")

    # -- retries and rate limits ---------------------------------------------------------------
    def _backoff(self, attempt: int, reason: str, status: int | None, request_id: str | None) -> None:
        if attempt >= self.retry.attempts:
            raise GitHubUnavailable(
                f"{reason} after {attempt} attempts; re-run later (a re-run is safe)",
                status_code=status,
                request_id=request_id,
            )
        ceiling = min(self.retry.cap, self.retry.base * 2 ** (attempt - 1))
        self._sleep_within_budget(ceiling / 2 + self.rng.uniform(0, ceiling / 2), reason, status, request_id)

    def _sleep_within_budget(self, seconds: float, reason: str, status: int | None, request_id: str | None) -> None:
        seconds = max(0.0, seconds)
        if self.slept + seconds > self.retry.budget:
            raise GitHubUnavailable(
                f"{reason}: waiting {seconds:.0f}s more would exceed the retry budget of "
                f"{self.retry.budget:.0f}s; re-run later (a re-run is safe)",
                status_code=status,
                request_id=request_id,
            )
        self.slept += seconds
        self.sleep(seconds)

    def _note_rate(self, resp: requests.Response) -> None:
        if resp.headers.get("X-RateLimit-Remaining") == "0" and resp.status_code < 400:
            reset = _to_float(resp.headers.get("X-RateLimit-Reset"))
            if reset:
                self._blocked_until = reset

    def _wait_for_primary_reset(self, what: str) -> None:
        if self._blocked_until:
            wait = self._blocked_until - self.clock()
            self._blocked_until = 0.0
            if wait > 0:
                self._sleep_within_budget(wait + 1, f"GitHub's rate limit is used up; needed to {what}", None, None)

    def _rate_limit_wait(self, resp: requests.Response, attempt: int) -> float | None:
        """Seconds to wait when ``resp`` is a primary or secondary rate limit, else None."""
        if resp.status_code not in (403, 429):
            return None
        retry_after = _retry_after(resp.headers.get("Retry-After"), self.clock)
        if retry_after is not None:
            return retry_after
        if resp.headers.get("X-RateLimit-Remaining") == "0":
            reset = _to_float(resp.headers.get("X-RateLimit-Reset"))
            return max(0.0, reset - self.clock()) + 1 if reset else self.retry.secondary_wait
        if "rate limit" in _message(resp).lower():
            return max(self.retry.secondary_wait, self.retry.base * 2 ** (attempt - 1))
        if resp.status_code == 429:
            return min(self.retry.cap, self.retry.base * 2 ** (attempt - 1))
        return None

    # -- errors --------------------------------------------------------------------------------
    def _error(self, resp: requests.Response, what: str, permission: str | None, repo_404: bool) -> GitHubError:
        excerpt = self._excerpt(resp)
        message = self._scrub(_message(resp)) or excerpt
        return build_error(
            resp,
            what,
            message,
            excerpt,
            permission=permission,
            repo_404=repo_404,
            token_source=self.token_source,
            repository=self.repository,
        )

    def _excerpt(self, resp: requests.Response) -> str:
        try:
            text = resp.text[:500]
        except Exception:  # a streamed or undecodable body
            return ""
        return self._scrub(text)

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text
