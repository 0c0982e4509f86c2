"""The one HTTP choke point of the Octopus Deploy adapter.

Every call to Octopus goes through :meth:`OctopusClient.request`: one
``requests.Session`` carrying the credential (``X-Octopus-ApiKey`` from
``OCTOPUS_API_KEY``, or a Bearer token from ``OCTOPUS_ACCESS_TOKEN``), a timeout
on every call, retries with exponential backoff and jitter on connection
errors, timeouts, 429 and 5xx (``Retry-After`` honoured, a total retry budget),
and typed errors that carry Octopus's ``ErrorMessage`` and ``Errors[]``.

A POST that may have been applied on the server (its response was lost) is never
re-sent blindly: the caller passes ``recover``, a lookup that returns the object
when it exists, and the POST is repeated only when the lookup finds nothing.

The credential never appears in a message, an exception or a ``repr``.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from trainmaster.errors import ApiError, InvalidInput, Unavailable

if TYPE_CHECKING:
    import requests

__all__ = ["OctopusApiError", "OctopusAuthError", "OctopusClient", "OctopusNotFound", "LostResponse"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
SETTLE_FIRST_DELAY = 0.5  # first wait between lookups of a create that may still be running
# A non-idempotent request answered with one of these was not applied: the server refused it.
NOT_APPLIED_STATUSES = frozenset({429, 503})
_SPACE_ID = re.compile(r"^Spaces-\d+$")


class OctopusApiError(ApiError):
    """Octopus answered with an error; carries its ``ErrorMessage`` and ``Errors[]``."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_message: str = "",
        errors: list[str] | None = None,
        body_excerpt: str | None = None,
    ) -> None:
        self.error_message = error_message
        self.errors = list(errors or [])
        super().__init__(message, status_code=status_code, body_excerpt=body_excerpt)

    def __str__(self) -> str:
        text = super().__str__()
        detail = self.error_message
        extra = [e for e in self.errors if e and e != detail]
        if extra:
            detail = (detail + ": " if detail else "") + "; ".join(extra)
        if detail and detail not in text:
            text += f" (Octopus says: {detail})"
        return text

    @property
    def says(self) -> str:
        """Octopus's own words, lower-cased, for matching ("already exists")."""
        return " ".join([self.error_message, *self.errors]).lower()


class OctopusAuthError(OctopusApiError):
    """401/403: the key or token is wrong or lacks a permission (exit 2)."""


class OctopusNotFound(OctopusApiError):
    """404: the space, project, environment or object does not exist (exit 2 unless handled)."""


class LostResponse(Unavailable):
    """A request that may have been applied lost its response and no lookup could settle it."""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OctopusClient:
    """A session against one Octopus server and one space.

    :param url: the server URL (``OCTOPUS_URL``), with or without ``/api``.
    :param api_key: sent as ``X-Octopus-ApiKey``.
    :param access_token: sent as ``Authorization: Bearer``; used when no API key is given.
    :param space: a space name or id (``Spaces-1``); resolved once, on first use.
    :param timeout: ``(connect, read)`` seconds for every call.
    :param max_attempts: attempts per request, the first included.
    :param retry_budget: the most seconds spent sleeping between attempts of one request.
    :param sleep: injectable, so tests record sleeps instead of waiting.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        access_token: str | None = None,
        space: str | None = None,
        timeout: tuple[float, float] = (10.0, 120.0),
        max_attempts: int = 6,
        retry_budget: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        if not url:
            raise InvalidInput(
                "OCTOPUS_URL is not set: set it to your Octopus server, e.g. https://my.octopus.app"
            )
        if not (api_key or access_token):
            raise InvalidInput(
                "neither OCTOPUS_API_KEY nor OCTOPUS_ACCESS_TOKEN is set: set one of them "
                "(an API key, or the token OctopusDeploy/login exports)"
            )
        base = url.rstrip("/")
        if base.endswith("/api"):
            base = base[: -len("/api")]
        self.server = base
        self._secret = api_key or access_token or ""
        self._auth_name = "OCTOPUS_API_KEY" if api_key else "OCTOPUS_ACCESS_TOKEN"
        self._headers = (
            {"X-Octopus-ApiKey": api_key} if api_key else {"Authorization": f"Bearer {access_token}"}
        )
        self._space = space
        self._space_id: str | None = None
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.retry_budget = retry_budget
        self.sleep = sleep
        self._session = session
        self.calls = 0
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

    # -- plumbing -------------------------------------------------------------------------
    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def scrub(self, text: str) -> str:
        """Remove the credential from ``text`` (defence in depth; it is never put there)."""
        return text.replace(self._secret, "***") if self._secret and text else text

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.server + "/" + path.lstrip("/")

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
        resend_if_missing: bool = False,
        timeout: tuple[float, float] | None = None,
        ok: tuple[int, ...] = (),
    ) -> Any:
        """Send one request, retrying what is safe to retry; return the parsed JSON (or None).

        :param idempotent: defaults to ``method in (GET, HEAD, PUT, DELETE)``.
        :param recover: for a non-idempotent request that may have been applied (read timeout,
            connection lost after sending, an ambiguous 5xx): a lookup returning the applied
            result (returned as this call's result) or ``None``. It is polled with backoff for
            about the read timeout, since the server may still be working on the request.
        :param resend_if_missing: when the lookup still finds nothing, send the request again
            (only for requests a duplicate cannot come from, e.g. a release version unique per
            project). Otherwise :class:`LostResponse` (exit 5) is raised: a re-run looks first.
            A request that certainly never reached the server (connect failure, or a streamed
            body that was not sent in full) is always sent again.
        :param ok: extra statuses returned as ``None`` instead of raising (e.g. 404 for lookups).
        :raises OctopusAuthError: 401/403 (exit 2, names the credential variable).
        :raises OctopusNotFound: 404.
        :raises OctopusApiError: any other 4xx, or a 5xx after the retries.
        :raises Unavailable: the server stayed unreachable after the retries (exit 5).
        """
        import requests

        if idempotent is None:
            idempotent = method.upper() in ("GET", "HEAD", "PUT", "DELETE")
        full = self.url(path)
        slept = 0.0
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            self.calls += 1
            wait: float | None = None
            try:
                resp = self.session.request(
                    method,
                    full,
                    params=params,
                    json=json,
                    data=data,
                    headers={**self._headers, **(headers or {})},
                    timeout=timeout or self.timeout,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{type(exc).__name__}"
                applied_maybe = (
                    not idempotent
                    and not isinstance(exc, requests.ConnectTimeout)
                    and not _refused(exc)
                    and getattr(data, "complete", True)
                )
                if applied_maybe:
                    found = self._settle(recover, method, path, last, timeout, resend_if_missing)
                    if found is not None:
                        return found
            else:
                if resp.status_code < 400 or resp.status_code in ok:
                    if resp.status_code >= 400 or not resp.content:
                        return None
                    try:
                        return resp.json()
                    except ValueError:
                        return None
                if resp.status_code not in RETRY_STATUSES:
                    raise self._error(method, path, resp)
                last = f"HTTP {resp.status_code}"
                wait = _retry_after(resp.headers.get("Retry-After"))
                if not idempotent and resp.status_code not in NOT_APPLIED_STATUSES:
                    found = self._settle(recover, method, path, last, timeout, resend_if_missing)
                    if found is not None:
                        return found
                if attempt == self.max_attempts and resp.status_code not in (429, 503):
                    raise self._error(method, path, resp)
            if attempt == self.max_attempts:
                break
            if wait is None:
                wait = min(30.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            if slept + wait > self.retry_budget:
                break
            slept += wait
            self.sleep(wait)
            if hasattr(data, "rewind"):
                data.rewind()
        raise Unavailable(
            f"Octopus at {self.server} stayed unavailable for {method} {path} "
            f"after {attempt} attempt(s) ({last}); a re-run is safe"
        )

    def _settle(
        self,
        recover: Callable[[], Any] | None,
        method: str,
        path: str,
        last: str,
        timeout: tuple[float, float] | None,
        resend_if_missing: bool,
    ) -> Any:
        """Poll ``recover`` with backoff for about the read timeout; never re-send a create blindly."""
        if recover is None:
            raise LostResponse(
                f"the response to {method} {path} was lost and it may have been applied; "
                "check Octopus before re-running"
            )
        horizon = max(0.0, float((timeout or self.timeout)[1]))
        delay = min(SETTLE_FIRST_DELAY, horizon / 4)
        waited = 0.0
        found = recover()
        while found is None and waited < horizon:
            step = min(delay, horizon - waited)
            self.sleep(step)
            waited += step
            delay *= 2
            found = recover()
        if found is None and not resend_if_missing:
            raise LostResponse(
                f"{method} {path} got no answer ({last}) and what it creates has not appeared in "
                f"{horizon:g}s; it was not sent again, to avoid a duplicate. A re-run is safe: "
                "it looks the object up first"
            )
        return found

    def _error(self, method: str, path: str, resp: requests.Response) -> OctopusApiError:
        error_message, errors = "", []
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            error_message = str(body.get("ErrorMessage") or body.get("errorMessage") or "")
            errors = [str(e) for e in (body.get("Errors") or body.get("errors") or [])]
        excerpt = self.scrub(resp.text[:500]) if resp.text else None
        error_message, errors = self.scrub(error_message), [self.scrub(e) for e in errors]
        status = resp.status_code
        kwargs: dict[str, Any] = {
            "status_code": status,
            "error_message": error_message,
            "errors": errors,
            "body_excerpt": excerpt,
        }
        if status == 401:
            return OctopusAuthError(
                f"Octopus at {self.server} rejected the credentials: check {self._auth_name} "
                "(it is wrong, expired or revoked)",
                **kwargs,
            )
        if status == 403:
            return OctopusAuthError(
                f"the Octopus credential in {self._auth_name} lacks a permission for "
                f"{method} {path}: grant it to the key's user or team",
                **kwargs,
            )
        if status == 404:
            return OctopusNotFound(f"Octopus has no {path}", **kwargs)
        return OctopusApiError(f"Octopus refused {method} {path}", **kwargs)

    # -- conveniences ---------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, Any] | None = None, *, missing_ok: bool = False) -> Any:
        """GET a JSON resource; with ``missing_ok`` a 404 returns ``None``."""
        return self.request("GET", path, params=params, ok=(404,) if missing_ok else ())

    def post(
        self,
        path: str,
        body: Any,
        *,
        params: Mapping[str, Any] | None = None,
        recover: Callable[[], Any] | None = None,
        resend_if_missing: bool = False,
    ) -> Any:
        """POST JSON (non-idempotent: see ``recover`` and ``resend_if_missing`` in :meth:`request`)."""
        return self.request(
            "POST", path, json=body, params=params, recover=recover, resend_if_missing=resend_if_missing
        )

    @property
    def space_id(self) -> str:
        """The space id, resolved once (by id, by name, or the default space)."""
        if self._space_id is None:
            self._space_id = self._resolve_space()
        return self._space_id

    def space_path(self, rel: str) -> str:
        """``/api/{spaceId}/{rel}``."""
        return f"/api/{self.space_id}/{rel.lstrip('/')}"

    def _resolve_space(self) -> str:
        wanted = self._space
        if wanted and _SPACE_ID.match(wanted):
            space = self.get(f"/api/spaces/{wanted}", missing_ok=True)
            if not space:
                raise InvalidInput(
                    f"Octopus has no space with id {wanted!r}: fix octopus.space or OCTOPUS_SPACE"
                )
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
                f"Octopus has no space named {wanted!r} (close matches: {names}): "
                "fix octopus.space or OCTOPUS_SPACE"
            )
        raise InvalidInput("Octopus has no default space: set octopus.space or OCTOPUS_SPACE")


def _refused(exc: Exception) -> bool:
    """True when the connection was refused before anything was sent."""
    text = repr(exc)
    return "Connection refused" in text or "NewConnectionError" in text or "Name or service not known" in text
