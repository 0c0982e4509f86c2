"""The one HTTP choke point of the Azure DevOps adapter.

Calls go through Microsoft's ``azure-devops`` client (the ``trainmaster[azure]`` extra),
which runs on msrest and ``requests``. Every request of every client the connection
creates (the resource-area and ``OPTIONS`` discovery calls included) passes through
:class:`Transport`, the ``requests`` transport adapter the credentials object mounts on
msrest's session. Its ``send`` hands each request to :meth:`trainmaster.http.HttpClient.run`,
so timeouts, retries, ``Retry-After``, the retry budget, "was it sent" and the lost-response
protocol are the core's (msrest's own urllib3 retries are switched off). What stays here is
Azure's part (:class:`AzureRules`):

- the token, sent as ``BasicAuthentication('', token)`` and scrubbed from every message;
- pacing *before* a 429 when ``X-RateLimit-Remaining`` runs low (Azure sends the rate
  headers before it starts throttling);
- every error answer as a typed :class:`AzureApiError` with the status, the activity id and
  the service's message (401/403/404 saying what to fix).

A call that changes something and whose answer may be lost runs through
:meth:`AzureDevOps.call` with a ``recover`` lookup (see :mod:`trainmaster.http`): the lookup
runs before any resend, and what it finds is returned instead of the SDK's answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, urlparse

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry as Urllib3Retry

from trainmaster.errors import ApiError, InvalidInput, PluginError
from trainmaster.http import DEFAULT_TIMEOUT, IDEMPOTENT_METHODS, Call, HttpClient, RetryPolicy, Rules

__all__ = [
    "AzureApiError",
    "AzureDevOps",
    "AzureRules",
    "NotFound",
    "Transport",
    "import_sdk",
    "token_source",
]

T = TypeVar("T")
EXTRA_MESSAGE = (
    "the azure-devops target, ledger and publisher need Microsoft's Azure DevOps client: "
    "install trainmaster[azure] (pip install 'trainmaster[azure]')"
)
ACTIVITY_HEADERS = ("ActivityId", "X-VSS-ActivityId", "X-VSS-E2EID", "X-MSEdge-Ref")
LOW_REMAINING = 0.1
"""Start pacing when ``X-RateLimit-Remaining`` drops below this share of ``X-RateLimit-Limit``."""
PACE_WINDOW = 5.0
"""Seconds assumed left in the rate-limit window when ``X-RateLimit-Reset`` is absent."""
MAX_PACE = 30.0


class AzureApiError(ApiError):
    """An Azure DevOps answer that retrying will not fix (exit 2); ``request_id`` is the activity id."""


class NotFound(AzureApiError):
    """404: the organisation, project, definition, release or stage does not exist (exit 2)."""


class _Recovered(Exception):
    """Raised through msrest by :class:`Transport` when ``recover()`` found what a lost call made."""

    def __init__(self, value: Any) -> None:
        super().__init__("recovered")
        self.value = value


def import_sdk() -> Any:
    """Import ``azure.devops`` or raise the one clear "install the extra" error (exit 2)."""
    try:
        import azure.devops.connection as connection
    except ImportError as err:
        raise PluginError(EXTRA_MESSAGE) from err
    return connection


def token_source(environ: Mapping[str, str], variable: str | None = None) -> tuple[str, str]:
    """``(variable name, token)``: the named variable, else ``SYSTEM_ACCESSTOKEN``, else
    ``AZURE_DEVOPS_EXT_PAT``; exit 2 when there is none."""
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


def _header_float(headers: Mapping[str, str], name: str) -> float | None:
    try:
        return float(headers[name]) if headers.get(name) is not None else None
    except ValueError:
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


class AzureRules(Rules):
    """Azure DevOps' quirks for :class:`trainmaster.http.HttpClient`: rate headers and typed errors.

    :param token: scrubbed from every message.
    :param clock: wall-clock seconds, for ``X-RateLimit-Reset``.
    """

    def __init__(self, token: str, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__("Azure DevOps", secrets=[token], request_id_headers=ACTIVITY_HEADERS)
        self.clock = clock

    def pace(self, response: requests.Response) -> float | None:
        """Spread the requests left over the rest of the window once fewer than 10% remain."""
        headers = response.headers
        remaining = _header_float(headers, "X-RateLimit-Remaining")
        limit = _header_float(headers, "X-RateLimit-Limit") or 0.0
        if remaining is None or remaining > max(1.0, limit * LOW_REMAINING):
            return None
        reset = _header_float(headers, "X-RateLimit-Reset")
        window = max(0.0, reset - self.clock()) if reset else PACE_WINDOW
        delay = _header_float(headers, "X-RateLimit-Delay") or 0.0
        return min(MAX_PACE, max(delay, window / max(remaining, 1.0)))

    def error(self, response: requests.Response, call: Call) -> Exception:
        """401/403/404 say what to fix; any other refusal carries the service's message."""
        status, message = response.status_code, self.scrub(service_message(response))
        what = f"{call.method} {urlparse(call.url).path}"
        details = {**self.details(response, call), "body_excerpt": message or None}
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
            return NotFound(f"not found: {what}. {message}".strip(), **details)
        else:
            text = f"Azure DevOps refused {what}: {message or response.reason}"
        return AzureApiError(text, **details)


class Transport(HTTPAdapter):
    """The ``requests`` transport adapter under msrest: each request goes through ``http.run``.

    :param http: the core client (policy, rules, timeouts) every request goes through.
    """

    def __init__(self, http: HttpClient) -> None:
        self.http = http
        self.recover: Callable[[], Any] | None = None
        super().__init__()

    # msrest writes its own urllib3 Retry into every mounted adapter; the core's loop is the only retry.
    @property  # type: ignore[override]
    def max_retries(self) -> Urllib3Retry:
        return Urllib3Retry(0, read=False, redirect=False)

    @max_retries.setter
    def max_retries(self, value: Any) -> None:
        pass

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        method, url = (request.method or "GET").upper(), request.url or ""

        def attempt() -> requests.Response:
            return HTTPAdapter.send(self, request, stream=stream, timeout=self.http.timeout, verify=verify,
                                    cert=cert, proxies=proxies)

        recover = None if method in IDEMPOTENT_METHODS else self.recover
        result = self.http.run(method, url, attempt, what=f"{method} {urlparse(url).path}", recover=recover)
        if isinstance(result, requests.Response):
            return result
        raise _Recovered(result)


class AzureDevOps:
    """A connection to one organisation and project, through the ``azure-devops`` client.

    :param organization_url: ``https://dev.azure.com/ORG`` (``SYSTEM_COLLECTIONURI``).
    :param project: the project name or id (``SYSTEM_TEAMPROJECT``).
    :param token: a PAT or the job's access token; sent as ``BasicAuthentication('', token)``.
    :param policy: retries, budget and sleep (tests pass one with a recording ``sleep``).
    :param timeout: ``(connect, read)`` seconds per request.
    """

    def __init__(
        self,
        organization_url: str,
        project: str,
        token: str,
        *,
        policy: RetryPolicy | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        connection_module = import_sdk()
        from msrest.authentication import BasicAuthentication

        self.organization_url = organization_url.rstrip("/")
        self.project = project
        self.http = HttpClient(policy=policy, rules=AzureRules(token), timeout=timeout)
        self.transport = transport = Transport(self.http)

        class _Auth(BasicAuthentication):  # type: ignore[misc]
            def signed_session(self, session: requests.Session | None = None) -> requests.Session:
                session = super().signed_session(session)
                if session.adapters.get("https://") is not transport:
                    session.mount("https://", transport)
                    session.mount("http://", transport)
                return session

            def __repr__(self) -> str:
                return "<azure-devops credentials (hidden)>"

        self.connection = connection_module.Connection(base_url=self.organization_url, creds=_Auth("", token))

    def __repr__(self) -> str:
        return f"AzureDevOps({self.organization_url!r}, {self.project!r})"

    def call(self, change: Callable[[], T], recover: Callable[[], Any]) -> T | Any:
        """Run one SDK call that changes something (POST/PATCH), with the lookup for a lost answer.

        ``recover()`` follows :meth:`trainmaster.http.HttpClient.send`'s contract: the object when
        the call took effect (returned instead of the SDK's answer), ``None`` when it certainly did
        not (the call is sent again), :data:`trainmaster.http.UNKNOWN` when it cannot tell yet.
        """
        self.transport.recover = recover
        try:
            return change()
        except _Recovered as found:
            return found.value
        finally:
            self.transport.recover = None

    @property
    def release(self) -> Any:
        """The 7.1 ``ReleaseClient`` (routed to the ``vsrm`` host by resource-area discovery)."""
        return self.connection.clients_v7_1.get_release_client()

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
