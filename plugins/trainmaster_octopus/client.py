"""The one HTTP choke point of the Octopus Deploy adapter, on :mod:`trainmaster.http`.

Every call to Octopus goes through :meth:`OctopusClient.request`, which sends it with the core's
:class:`~trainmaster.http.HttpClient`: timeouts, retries with backoff and jitter, ``Retry-After``,
the retry budget and the lost-response protocol (a POST whose answer was lost is never re-sent
before the caller's ``recover`` lookup has run; an outcome that stays unknown is
:class:`~trainmaster.errors.OutcomeUnknown`, exit 5) all live there. This module keeps only
what is Octopus's own:

* authentication: ``X-Octopus-ApiKey`` from ``OCTOPUS_API_KEY``, or a Bearer token from
  ``OCTOPUS_ACCESS_TOKEN`` (what ``OctopusDeploy/login`` exports);
* error mapping (:class:`OctopusRules`): 401/403 name the credential's variable, 404 is
  :class:`OctopusNotFound`, every error carries Octopus's ``ErrorMessage`` and ``Errors[]``;
  a 503 (server starting or in maintenance mode) proves the call was not applied;
* the space: resolved once, by id, by name or as the default space.

The credential never appears in a message, an exception or a ``repr``.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from trainmaster.errors import ApiError, InvalidInput
from trainmaster.http import UNKNOWN, Call, HttpBacked, HttpClient, Retry, RetryPolicy, Rules

if TYPE_CHECKING:
    import requests

__all__ = ["UNKNOWN", "OctopusApiError", "OctopusAuthError", "OctopusClient", "OctopusNotFound", "OctopusRules"]

_SPACE_ID = re.compile(r"^Spaces-\d+$")


class OctopusApiError(ApiError):
    """Octopus answered with an error; carries its ``ErrorMessage`` and ``Errors[]``."""

    def __init__(
        self, message: str, *, error_message: str = "", errors: list[str] | None = None, **details: Any
    ) -> None:
        self.error_message = error_message
        self.errors = list(errors or [])
        super().__init__(message, **details)

    def __str__(self) -> str:
        text = super().__str__()
        detail = self.error_message
        extra = [e for e in self.errors if e and e != detail]
        if extra:
            detail = (detail + ": " if detail else "") + "; ".join(extra)
        if detail and detail not in text:
            text += f" (Octopus says: {detail})"
        return text


class OctopusAuthError(OctopusApiError):
    """401/403: the key or token is wrong or lacks a permission (exit 2)."""


class OctopusNotFound(OctopusApiError):
    """404: the space, project, environment or object does not exist (exit 2 unless handled)."""


class OctopusRules(Rules):
    """Octopus's quirks for :class:`~trainmaster.http.HttpClient`: typed errors, 503 not applied."""

    def classify(self, response: requests.Response, attempt: int) -> Retry | None:
        verdict = super().classify(response, attempt)
        if verdict is not None and response.status_code == 503:  # refused before any work was done
            return dataclasses.replace(verdict, applied=False)
        return verdict

    def error(self, response: requests.Response, call: Call) -> Exception:
        body = self.body(response)
        error_message, errors = "", []
        if isinstance(body, dict):
            error_message = str(body.get("ErrorMessage") or body.get("errorMessage") or "")
            errors = [str(e) for e in (body.get("Errors") or body.get("errors") or [])]
        kwargs: dict[str, Any] = {
            **self.details(response, call),
            "error_message": self.scrub(error_message),
            "errors": [self.scrub(e) for e in errors],
        }
        status, path = response.status_code, _path(call.url)
        if status == 401:
            return OctopusAuthError(
                f"Octopus at {self.server} rejected the credentials: check {self.credential} "
                "(it is wrong, expired or revoked)",
                **kwargs,
            )
        if status == 403:
            return OctopusAuthError(
                f"the Octopus credential in {self.credential} lacks a permission for "
                f"{call.method} {path}: grant it to the key's user or team",
                **kwargs,
            )
        if status == 404:
            return OctopusNotFound(f"Octopus has no {path}", **kwargs)
        return OctopusApiError(f"Octopus refused {call.method} {path}", **kwargs)


def _path(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path or url


class OctopusClient(HttpBacked):
    """A session against one Octopus server and one space.

    :param url: the server URL (``OCTOPUS_URL``), with or without ``/api``.
    :param api_key: sent as ``X-Octopus-ApiKey``.
    :param access_token: sent as ``Authorization: Bearer``; used when no API key is given.
    :param space: a space name or id (``Spaces-1``); resolved once, on first use.
    :param timeout: ``(connect, read)`` seconds for every call.
    :param max_attempts: attempts per request, the first included.
    :param retry_budget: the most seconds spent sleeping between attempts of one request.
    :param sleep: every wait (retries, lookups, task polls); tests record sleeps instead of waiting.
    """

    def __init__(self, url: str, *, api_key: str | None = None, access_token: str | None = None,
                 space: str | None = None, timeout: tuple[float, float] = (10.0, 120.0), max_attempts: int = 6,
                 retry_budget: float = 120.0, sleep: Callable[[float], None] = time.sleep,
                 session: requests.Session | None = None) -> None:
        if not url:
            raise InvalidInput("OCTOPUS_URL is not set: set it to your Octopus server, e.g. https://my.octopus.app")
        if not (api_key or access_token):
            raise InvalidInput(
                "neither OCTOPUS_API_KEY nor OCTOPUS_ACCESS_TOKEN is set: set one of them "
                "(an API key, or the token OctopusDeploy/login exports)"
            )
        base = url.rstrip("/")
        if base.endswith("/api"):
            base = base[: -len("/api")]
        self.server = base
        self._auth_name = "OCTOPUS_API_KEY" if api_key else "OCTOPUS_ACCESS_TOKEN"
        self._headers = {"X-Octopus-ApiKey": api_key} if api_key else {"Authorization": f"Bearer {access_token}"}
        self._space = space
        self._space_id: str | None = None
        self.http = HttpClient(
            session=session,
            policy=RetryPolicy(attempts=max(1, max_attempts), base=0.5, budget=retry_budget, sleep=sleep),
            rules=OctopusRules(f"Octopus at {base}", secrets=[api_key or access_token or ""], server=base,
                               credential=self._auth_name),
            timeout=timeout,
        )
        self.cache: dict[str, Any] = {}

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, url: str | None = None, space: str | None = None, **kwargs: Any
    ) -> OctopusClient:
        """A client from ``OCTOPUS_URL``, ``OCTOPUS_API_KEY``/``OCTOPUS_ACCESS_TOKEN``, ``OCTOPUS_SPACE``."""
        return cls(
            url or environ.get("OCTOPUS_URL", ""),
            api_key=environ.get("OCTOPUS_API_KEY") or None,
            access_token=environ.get("OCTOPUS_ACCESS_TOKEN") or None,
            space=space or environ.get("OCTOPUS_SPACE") or None,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"OctopusClient({self.server!r}, space={self._space!r}, auth={self._auth_name})"

    # -- what tests and the task wait tune ------------------------------------------------
    @property
    def timeout(self) -> tuple[float, float]:
        return self.http.timeout

    @timeout.setter
    def timeout(self, value: tuple[float, float]) -> None:
        self.http.timeout = value

    @property
    def calls(self) -> int:
        """Requests sent so far (retries included)."""
        return self.http.calls

    # -- requests -------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        recover: Callable[[], Any] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        """Send one request through the HTTP core; return the parsed JSON (or None).

        :param data: a body, or a callable returning a fresh body for every attempt (streamed uploads).
        :param idempotent: defaults to ``method in (GET, HEAD, OPTIONS, PUT, DELETE)``.
        :param recover: for a non-idempotent request whose answer was lost: returns the object it
            created, ``None`` when it certainly was not created (then it is sent again), or
            :data:`UNKNOWN` when that cannot be told yet (asked again after a backoff).
        :param missing_ok: a 404 returns ``None`` instead of raising :class:`OctopusNotFound`.
        :raises OctopusAuthError: 401/403 (exit 2, names the credential variable).
        :raises OctopusNotFound: 404.
        :raises OctopusApiError: any other error answer that retrying will not fix.
        :raises Unavailable: the server stayed unreachable (exit 5); ``OutcomeUnknown`` when a
            create may have been applied and ``recover`` could not tell.
        """
        url = path if path.startswith("http") else self.server + "/" + path.lstrip("/")
        try:
            result = self.http.send(
                method, url, params=params, json=json, data=data, headers={**self._headers, **(headers or {})},
                idempotent=idempotent, recover=recover, what=f"{method.upper()} {_path(url)}",
            )
        except OctopusNotFound:
            if missing_ok:
                return None
            raise
        if not hasattr(result, "status_code"):  # what recover() found
            return result
        if not result.content:
            return None
        try:
            return result.json()
        except ValueError:
            return None

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, missing_ok: bool = False) -> Any:
        """GET a JSON resource; with ``missing_ok`` a 404 returns ``None``."""
        return self.request("GET", path, params=params, missing_ok=missing_ok)

    def post(self, path: str, body: Any, *, recover: Callable[[], Any] | None = None) -> Any:
        """POST JSON (non-idempotent: see ``recover`` in :meth:`request`)."""
        return self.request("POST", path, json=body, recover=recover)

    # -- the space ------------------------------------------------------------------------
    @property
    def space_id(self) -> str:
        """The space id, resolved once (by id, by name, or the default space)."""
        if self._space_id is None:
            self._space_id = self._resolve_space()
        return self._space_id

    def space_path(self, rel: str) -> str:
        """``/api/{spaceId}/{rel}``."""
        return f"/api/{self.space_id}/{rel.lstrip('/')}"

    def web_link(self, rel: str) -> str:
        """The Octopus web UI's page for ``rel`` (e.g. ``tasks/ServerTasks-1``) in this space."""
        return f"{self.server}/app#/{self.space_id}/{rel.lstrip('/')}"

    def _resolve_space(self) -> str:
        wanted = self._space
        if wanted and _SPACE_ID.match(wanted):
            space = self.get(f"/api/spaces/{wanted}", missing_ok=True)
            if not space:
                raise InvalidInput(f"Octopus has no space with id {wanted!r}: fix octopus.space or OCTOPUS_SPACE")
            return wanted
        params: dict[str, Any] = {"skip": 0, "take": 2147483647}
        if wanted:
            params["partialName"] = wanted
        page = self.get("/api/spaces", params)
        items = (page or {}).get("Items") or []
        for item in items:
            if wanted and item.get("Name") == wanted:
                return str(item["Id"])
            if not wanted and item.get("IsDefault"):
                return str(item["Id"])
        if wanted:
            names = ", ".join(sorted(str(i.get("Name")) for i in items)) or "none visible to this key"
            raise InvalidInput(
                f"Octopus has no space named {wanted!r} (close matches: {names}): fix octopus.space or OCTOPUS_SPACE"
            )
        raise InvalidInput("Octopus has no default space: set octopus.space or OCTOPUS_SPACE")
