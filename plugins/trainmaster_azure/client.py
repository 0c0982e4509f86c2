"""The one HTTP choke point of the Azure DevOps adapter.

Calls go through Microsoft's ``azure-devops`` client (the ``trainmaster[azure]`` extra),
which runs on msrest and ``requests``. Every request of every client the connection
creates (the resource-area and ``OPTIONS`` discovery calls included) passes through
:class:`RetryingAdapter`, mounted on msrest's session by the credentials object. It:

- sets a connect/read timeout on every call;
- retries connection errors, timeouts, 429 and 5xx with exponential backoff and jitter,
  honouring ``Retry-After``, within a total budget; msrest's own urllib3 retries are
  switched off so that the whole behaviour is this loop and nothing else;
- slows down *before* a 429 when ``X-RateLimit-Remaining`` runs low (Azure sends the
  rate headers before it starts throttling);
- never re-sends a POST or PATCH that may have been applied (a dropped connection, a
  read timeout, a 5xx): it raises :class:`MaybeApplied` and the caller looks the object
  up instead;
- turns every error answer into a typed :class:`AzureApiError` carrying the status, the
  activity id and the service's message. The token never appears in any of them.

All sleeps go through the injected ``sleep`` so that tests record them.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlparse

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from trainmaster.errors import ApiError, InvalidInput, PluginError, Unavailable

__all__ = [
    "AzureApiError",
    "AzureDevOps",
    "MaybeApplied",
    "NotFound",
    "RetryPolicy",
    "RetryingAdapter",
    "import_sdk",
    "resolve_token",
    "token_source",
]

EXTRA_MESSAGE = (
    "the azure-devops target, ledger and publisher need Microsoft's Azure DevOps client: "
    "install trainmaster[azure] (pip install 'trainmaster[azure]')"
)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
ACTIVITY_HEADERS = ("ActivityId", "X-VSS-ActivityId", "X-VSS-E2EID", "X-MSEdge-Ref")


class AzureApiError(ApiError):
    """An Azure DevOps answer that retrying will not fix (exit 2 unless a subclass says otherwise)."""

    @property
    def activity_id(self) -> str | None:
        return self.request_id


class NotFound(AzureApiError):
    """404: the organisation, project, definition, release or stage does not exist (exit 2)."""


class MaybeApplied(Unavailable):
    """A POST/PATCH failed in a way that may have been applied; look the object up (exit 5)."""


def import_sdk() -> Any:
    """Import ``azure.devops`` or raise the one clear "install the extra" error (exit 2)."""
    try:
        import azure.devops.connection as connection
    except ImportError as err:
        raise PluginError(EXTRA_MESSAGE) from err
    return connection


def resolve_token(environ: Mapping[str, str], variable: str | None = None) -> str:
    """The token: the named variable, else ``SYSTEM_ACCESSTOKEN``, else ``AZURE_DEVOPS_EXT_PAT``."""
    return token_source(environ, variable)[1]


def token_source(environ: Mapping[str, str], variable: str | None = None) -> tuple[str, str]:
    """``(variable name, token)``, in the order of :func:`resolve_token`; exit 2 when there is none."""
    names = [variable] if variable else []
    names += ["SYSTEM_ACCESSTOKEN", "AZURE_DEVOPS_EXT_PAT"]
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return name, value
    named = f"{variable} (azure-devops.token_variable), " if variable else ""
    raise InvalidInput(
        f"no Azure DevOps token: set {named}SYSTEM_ACCESSTOKEN (map "
        "`SYSTEM_ACCESSTOKEN: $(System.AccessToken)` into the step's env, or use the trainmaster task) "
        "or AZURE_DEVOPS_EXT_PAT"
    )


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. ``budget`` bounds the total time slept for one request."""

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    budget: float = 120.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    low_remaining: float = 0.1
    """Start pacing when ``X-RateLimit-Remaining`` drops below this share of ``X-RateLimit-Limit``."""


def _header_float(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta-seconds or an HTTP date), or None."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def activity_id(headers: Mapping[str, str]) -> str | None:
    for name in ACTIVITY_HEADERS:
        if headers.get(name):
            return headers[name]
    return None


def service_message(response: requests.Response) -> str:
    """The service's one-line message (the ``message`` of Azure's error JSON), never a credential."""
    text = ""
    try:
        data = response.json()
        if isinstance(data, dict):
            text = str(data.get("message") or data.get("value", {}).get("Message", "") or "")
    except ValueError:
        text = response.text[:300] if "html" not in response.headers.get("Content-Type", "") else ""
    return " ".join(text.split())[:500]


def error_for(response: requests.Response) -> AzureApiError:
    """The typed error for a non-retryable answer."""
    status = response.status_code
    message = service_message(response)
    request = response.request
    what = f"{request.method} {urlparse(request.url or '').path}" if request else "request"
    rid = activity_id(response.headers)
    if status == 401:
        text = (
            "Azure DevOps rejected the token (401): check that SYSTEM_ACCESSTOKEN, AZURE_DEVOPS_EXT_PAT "
            "or azure-devops.token_variable holds a valid, unexpired token for this organisation"
        )
    elif status == 403:
        text = (
            f"the token may not do {what} (403): grant the build service (or the PAT) the permission "
            f"it needs, such as 'Create releases' or 'Manage deployments'. {message}"
        ).strip()
    elif status == 404:
        return NotFound(
            f"not found: {what}. {message}".strip(), status_code=status, request_id=rid, body_excerpt=message
        )
    else:
        text = f"Azure DevOps refused {what}: {message or response.reason}"
    return AzureApiError(text, status_code=status, request_id=rid, body_excerpt=message)


class RetryingAdapter(HTTPAdapter):
    """A ``requests`` transport adapter with trainmaster's retry, pacing and error policy.

    :param policy: attempts, delays, budget and timeouts.
    :param sleep: called for every wait (tests pass a recorder).
    :param clock: wall-clock seconds, for ``Retry-After`` dates and ``X-RateLimit-Reset``.
    :param rand: ``[0, 1)`` for jitter.
    :param on_wait: told ``(seconds, reason)`` before each wait (a progress line).
    """

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        on_wait: Callable[[float, str], None] | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self.rand = rand
        self.on_wait = on_wait
        self._pause = 0.0
        self.calls = 0
        super().__init__()

    # msrest writes its own urllib3 Retry into every mounted adapter; this loop is the only retry.
    @property  # type: ignore[override]
    def max_retries(self) -> Retry:
        return Retry(0, read=False, redirect=False)

    @max_retries.setter
    def max_retries(self, value: Any) -> None:
        pass

    def _wait(self, seconds: float, reason: str) -> None:
        if seconds <= 0:
            return
        if self.on_wait:
            self.on_wait(seconds, reason)
        self.sleep(seconds)

    def _note_rate(self, headers: Mapping[str, str]) -> None:
        remaining = _header_float(headers, "X-RateLimit-Remaining")
        limit = _header_float(headers, "X-RateLimit-Limit")
        if remaining is None:
            self._pause = 0.0
            return
        low = max(1.0, (limit or 0) * self.policy.low_remaining)
        if remaining > low:
            self._pause = 0.0
            return
        reset = _header_float(headers, "X-RateLimit-Reset")
        window = max(0.0, reset - self.clock()) if reset else self.policy.base_delay * 5
        delay = _header_float(headers, "X-RateLimit-Delay") or 0.0
        self._pause = min(self.policy.max_delay, max(delay, window / max(remaining, 1.0)))

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.policy.max_delay, self.policy.base_delay * 2 ** (attempt - 1))
        return ceiling * (0.5 + self.rand() / 2)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        policy = self.policy
        method = (request.method or "GET").upper()
        safe = method in IDEMPOTENT
        slept = 0.0
        last = "no answer"
        for attempt in range(1, policy.max_attempts + 1):
            if self._pause:
                pause, self._pause = self._pause, 0.0
                self._wait(pause, "X-RateLimit-Remaining is low")
            self.calls += 1
            try:
                response = super().send(
                    request,
                    stream=stream,
                    timeout=(policy.connect_timeout, policy.read_timeout),
                    verify=verify,
                    cert=cert,
                    proxies=proxies,
                )
            except (requests.ConnectionError, requests.Timeout) as err:
                if not safe and not _not_sent(err):
                    raise MaybeApplied(
                        f"{method} {_path(request)}: the connection failed after the request "
                        f"was sent ({type(err).__name__}); it may have been applied"
                    ) from None
                last = f"{type(err).__name__} on {method} {_path(request)}"
                delay = self._backoff(attempt)
            else:
                self._note_rate(response.headers)
                status = response.status_code
                if status < 400 or (status < 500 and status not in (408, 429)):
                    if status >= 400:
                        raise error_for(response)
                    return response
                rid = activity_id(response.headers)
                last = f"{status} on {method} {_path(request)}" + (f" (activity id {rid})" if rid else "")
                if status != 429 and not safe:
                    raise MaybeApplied(f"Azure DevOps answered {last}; the change may have been applied")
                hinted = retry_after(response.headers, self.clock())
                delay = hinted if hinted is not None else self._backoff(attempt)
                response.close()
            if attempt == policy.max_attempts:
                break
            if slept + delay > policy.budget:
                raise Unavailable(
                    f"Azure DevOps stayed unavailable: {last}; the next wait ({delay:.0f}s) "
                    f"exceeds the retry budget of {policy.budget:.0f}s. A re-run is safe."
                )
            self._wait(delay, last)
            slept += delay
        raise Unavailable(
            f"Azure DevOps stayed unavailable after {policy.max_attempts} attempts: {last}. A re-run is safe."
        )


def _path(request: requests.PreparedRequest) -> str:
    return urlparse(request.url or "").path


def _not_sent(err: Exception) -> bool:
    """True when the request certainly never reached the server (connect failure)."""
    if isinstance(err, requests.ConnectTimeout):
        return True
    text = repr(err)
    return any(
        s in text for s in ("NewConnectionError", "ConnectionRefused", "Connection refused", "NameResolutionError")
    )


class AzureDevOps:
    """A connection to one organisation and project, through the ``azure-devops`` client.

    :param organization_url: ``https://dev.azure.com/ORG`` (``SYSTEM_COLLECTIONURI``).
    :param project: the project name or id (``SYSTEM_TEAMPROJECT``).
    :param token: a PAT or the job's access token; sent as ``BasicAuthentication('', token)``.
    :param adapter: the transport (tests pass one with a recording ``sleep``).
    """

    def __init__(
        self, organization_url: str, project: str, token: str, *, adapter: RetryingAdapter | None = None
    ) -> None:
        connection_module = import_sdk()
        from msrest.authentication import BasicAuthentication

        self.organization_url = organization_url.rstrip("/")
        self.project = project
        self.adapter = adapter or RetryingAdapter()
        adapter_ = self.adapter

        class _Auth(BasicAuthentication):  # type: ignore[misc]
            def signed_session(self, session: requests.Session | None = None) -> requests.Session:
                session = super().signed_session(session)
                if session.adapters.get("https://") is not adapter_:
                    session.mount("https://", adapter_)
                    session.mount("http://", adapter_)
                return session

            def __repr__(self) -> str:
                return "<azure-devops credentials (hidden)>"

        self.connection = connection_module.Connection(base_url=self.organization_url, creds=_Auth("", token))

    def __repr__(self) -> str:
        return f"AzureDevOps({self.organization_url!r}, {self.project!r})"

    @property
    def release(self) -> Any:
        """The 7.1 ``ReleaseClient`` (routed to the ``vsrm`` host by resource-area discovery)."""
        return self.connection.clients_v7_1.get_release_client()

    @property
    def build(self) -> Any:
        return self.connection.clients_v7_1.get_build_client()

    def web_url(self, path: str) -> str:
        return f"{self.organization_url}/{quote(self.project)}/{path.lstrip('/')}"


def properties_of(obj: Any) -> dict[str, str]:
    """A release's property bag as plain strings (``{"$type", "$value"}`` entries unwrapped)."""
    raw = getattr(obj, "properties", None) or {}
    if not isinstance(raw, dict):
        return {}
    out: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and "$value" in value:
            value = value["$value"]
        if isinstance(value, (dict, list)):
            value = json.dumps(value, sort_keys=True)
        out[str(key)] = "" if value is None else str(value)
    return out
