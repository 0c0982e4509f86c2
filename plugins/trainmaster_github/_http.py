"""Support for the GitHub client: the error types, the retry policy, the token lookup and small helpers."""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests

from trainmaster.errors import ApiError, InvalidInput, Unavailable

CHUNK = 1024 * 1024
RETRY_STATUSES = frozenset({500, 502, 503, 504})
_NOT_SENT_MARKERS = (
    "NewConnectionError",
    "ConnectTimeoutError",
    "Failed to establish a new connection",
    "NameResolutionError",
)


class GitHubError(ApiError):
    """GitHub answered with an error that retrying will not fix (exit 2 unless a subclass says otherwise)."""


class GitHubAuthError(GitHubError):
    """401: the token is missing, expired or wrong."""


class GitHubPermissionError(GitHubError):
    """403 that is not a rate limit: the token lacks a permission."""


class GitHubNotFound(GitHubError):
    """404: the object (or, for a collection, the repository) does not exist or is invisible."""


class GitHubUnavailable(Unavailable):
    """GitHub stayed unavailable or rate-limited after retries (exit 5). A re-run is safe."""

    def __init__(self, message: str, *, status_code: int | None = None, request_id: str | None = None) -> None:
        self.status_code = status_code
        self.request_id = request_id
        text = f"{status_code}: {message}" if status_code else message
        if request_id:
            text += f" (request id {request_id})"
        super().__init__(text)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts per call, backoff base and cap, and the total sleep budget (seconds)."""

    attempts: int = 6
    base: float = 1.0
    cap: float = 30.0
    budget: float = 180.0
    secondary_wait: float = 60.0


def resolve_token(environ: Mapping[str, str], token_env: str | None = None) -> tuple[str, str]:
    """Return ``(token, variable name)``; the config may only *name* the variable.

    :raises InvalidInput: when no variable holds a token (exit 2).
    """
    names = [token_env] if token_env else ["GITHUB_TOKEN", "GH_TOKEN"]
    for name in names:
        value = (environ.get(name) or "").strip()
        if value:
            return value, name
    if token_env:
        raise InvalidInput(
            f"the variable {token_env} named by github.token_env is empty or unset: "
            f"set {token_env} to the GitHub token (in a workflow, map a secret into it with env:)"
        )
    raise InvalidInput(
        "no GitHub token: set GITHUB_TOKEN or GH_TOKEN (in a workflow the action passes "
        "github.token), or name another variable with github.token_env"
    )


class _FileBody:
    """A file streamed as a request body: constant memory, exact ``Content-Length``."""

    def __init__(self, path: Path, size: int) -> None:
        self._file: IO[bytes] = path.open("rb")
        self._left = size
        self.len = size

    def __len__(self) -> int:
        return self.len

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = CHUNK if n is None or n < 0 else min(n, CHUNK)
        data = self._file.read(min(n, self._left))
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._file.close()


def _message(resp: requests.Response) -> str:
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


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached GitHub (connect failed), so repeating is safe."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    return isinstance(exc, requests.ConnectionError) and any(m in repr(exc) for m in _NOT_SENT_MARKERS)


def _to_float(value: str | None) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0


def _retry_after(value: str | None, clock: Callable[[], float]) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - clock())


def build_error(
    resp: requests.Response,
    what: str,
    message: str,
    excerpt: str,
    *,
    permission: str | None,
    repo_404: bool,
    token_source: str,
    repository: str,
) -> GitHubError:
    """The typed error for a final (non-retryable) answer; ``message`` and ``excerpt`` are already scrubbed."""
    status = resp.status_code
    request_id = resp.headers.get("X-GitHub-Request-Id")
    kw: dict[str, Any] = {"status_code": status, "request_id": request_id, "body_excerpt": excerpt}
    if status == 401:
        return GitHubAuthError(
            f"GitHub rejected the token in {token_source} ({message}) while trying "
            f"to {what}: put a valid token in {token_source}",
            **kw,
        )
    if status == 403:
        grant = f"grant the job `permissions: {permission}`" if permission else "grant the missing permission"
        return GitHubPermissionError(
            f"the token in {token_source} may not {what} in {repository} "
            f"({message}): {grant} (or the equivalent scope for a personal token)",
            **kw,
        )
    if status == 404 and repo_404:
        return GitHubNotFound(
            f"repository {repository} was not found or the token cannot see it "
            f"(while trying to {what}): check GITHUB_REPOSITORY or github.repository "
            "in trainmaster.yaml, and the token's access",
            **kw,
        )
    if status == 404:
        return GitHubNotFound(f"not found while trying to {what} in {repository}", **kw)
    return GitHubError(f"GitHub refused to {what}: {message}", **kw)
