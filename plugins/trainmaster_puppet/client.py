"""The one HTTP choke point of the Puppet Enterprise adapter, on :mod:`trainmaster.http`.

Every call to the primary server (Code Manager on port 8170, the orchestrator on 8143, the node
classifier on 4433 by default) goes through :meth:`PuppetClient.request`, which sends it with the
core's :class:`~trainmaster.http.HttpClient` (timeouts, retries with backoff and jitter,
``Retry-After``, the retry budget, the lost-response protocol). This module keeps only what is
Puppet's own:

* authentication: the RBAC token in ``X-Authentication`` (``PE_TOKEN`` or a secret reference);
* TLS: the PE CA file (``ca_file``) verifies the server, else the system's CAs;
* error mapping (:class:`PuppetRules`): PE's error body ``{"kind", "msg", "details"}``; 401/403
  name the token's source; 404 is :class:`PuppetNotFound`.

There is no official Puppet Enterprise HTTP client library to build on. The token never appears
in a message, an exception or a ``repr``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from trainmaster.errors import ApiError, InvalidInput
from trainmaster.http import UNKNOWN, Call, HttpBacked, HttpClient, RetryPolicy, Rules, new_session

if TYPE_CHECKING:
    import requests

__all__ = ["DEFAULT_PORTS", "UNKNOWN", "PuppetApiError", "PuppetClient", "PuppetNotFound", "PuppetRules"]

DEFAULT_PORTS = {"code_manager": 8170, "orchestrator": 8143, "classifier": 4433}
_PREFIX = {"code_manager": "/code-manager/v1", "orchestrator": "/orchestrator/v1", "classifier": "/classifier-api/v1"}


class PuppetApiError(ApiError):
    """Puppet Enterprise answered with an error (exit 2 unless handled)."""

    kind: str = ""


class PuppetNotFound(PuppetApiError):
    """404: the job, plan job or node group does not exist."""


class PuppetRules(Rules):
    """Puppet Enterprise's quirks: typed errors carrying PE's ``kind`` and ``msg``."""

    def error(self, response: requests.Response, call: Call) -> Exception:
        body = self.body(response)
        kind = str(body.get("kind") or "") if isinstance(body, dict) else ""
        says = self.scrub(str(body.get("msg") or "") if isinstance(body, dict) else self.excerpt(response))[:300]
        details = self.details(response, call)
        status = response.status_code
        if status == 401:
            err: PuppetApiError = PuppetApiError(
                f"Puppet Enterprise at {self.server} rejected the RBAC token: check {self.credential} "
                "(it is wrong, expired or revoked; `puppet access login` makes a new one)", **details)
        elif status == 403:
            err = PuppetApiError(f"the RBAC token in {self.credential} may not {call.what}: grant its user the "
                                 f"permission (Puppet agent: run; Code Manager: deploy; node groups: view)"
                                 f"{': ' + says if says else ''}", **details)
        elif status == 404:
            err = PuppetNotFound(f"Puppet Enterprise could not {call.what}: not found{': ' + says if says else ''}",
                                 **details)
        else:
            err = PuppetApiError(f"Puppet Enterprise refused to {call.what}{': ' + says if says else ''}"
                                 + (f" ({kind})" if kind else ""), **details)
        err.kind = kind
        return err


class PuppetClient(HttpBacked):
    """A session against one primary server.

    :param server: the primary server's URL, e.g. ``https://pe.example.com`` (its port is ignored:
        each service has its own, from ``ports``).
    :param token: the RBAC token, sent as ``X-Authentication``.
    :param ca_file: the PE CA certificate (PEM) that signed the server's certificate; None: system CAs.
    :param ports: ``code_manager``, ``orchestrator``, ``classifier`` ports (defaults 8170, 8143, 4433).
    :param token_source: where the token came from, for messages (never the token itself).
    :param sleep: every wait (retries, polls); tests record sleeps instead of waiting.
    """

    def __init__(self, server: str, token: str, *, ca_file: str | None = None,
                 ports: Mapping[str, int] | None = None, token_source: str = "PE_TOKEN",
                 timeout: tuple[float, float] = (10.0, 60.0), max_attempts: int = 6, retry_budget: float = 120.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        parts = urlsplit(server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"the Puppet Enterprise server must be a URL such as https://pe.example.com, "
                               f"not {server!r}")
        if not token:
            raise InvalidInput(f"{token_source} is not set: set it to an RBAC token (`puppet access login "
                               "--lifetime 1d` then `puppet access show`), or point puppet-enterprise.token at "
                               "a secret reference")
        self._parts = parts
        self.server = urlunsplit((parts.scheme, parts.netloc, "", "", "")).rstrip("/")
        self.ports = {**DEFAULT_PORTS, **dict(ports or {})}
        self._token_source = token_source
        session = new_session(timeout=timeout, headers={"X-Authentication": token})
        if ca_file:
            _pin_ca(session, ca_file)
        self.http = HttpClient(session=session,
                               policy=RetryPolicy(attempts=max(1, max_attempts), base=0.5, budget=retry_budget,
                                                  sleep=sleep),
                               rules=PuppetRules(f"Puppet Enterprise at {self.server}", secrets=[token],
                                                 server=self.server, credential=token_source), timeout=timeout)

    def __repr__(self) -> str:
        return f"PuppetClient({self.server!r}, token from {self._token_source})"

    def url(self, service: str, path: str) -> str:
        """The full URL of ``path`` on ``service`` (``orchestrator``, ``code_manager``, ``classifier``)."""
        host = self._parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        return f"{self._parts.scheme}://{host}:{self.ports[service]}{_PREFIX[service]}/{path.lstrip('/')}"

    def request(self, method: str, service: str, path: str, *, what: str, params: dict[str, Any] | None = None,
                json: Any = None, recover: Callable[[], Any] | None = None, idempotent: bool | None = None,
                timeout: tuple[float, float] | None = None) -> Any:
        """Send one call; returns the parsed JSON body (``None`` when empty), or ``recover()``'s result."""
        result = self.http.send(method, self.url(service, path), what=what, params=params, json=json,
                                recover=recover, idempotent=idempotent, timeout=timeout)
        if not hasattr(result, "status_code"):
            return result
        if not result.content:
            return None
        return result.json()

    def get(self, service: str, path: str, params: dict[str, Any] | None = None, *, what: str) -> Any:
        return self.request("GET", service, path, params=params, what=what)


def _pin_ca(session: requests.Session, ca_file: str) -> None:
    """Verify HTTPS with ``ca_file`` only.

    ``session.verify`` alone is not enough: ``requests`` lets ``REQUESTS_CA_BUNDLE`` /
    ``CURL_CA_BUNDLE`` (set on many CI images) override it per request, which would silently
    replace the PE CA with the system bundle. The transport's ``send`` is the last word.
    """
    session.verify = ca_file
    adapter = session.get_adapter("https://")
    send = adapter.send

    def pinned(request: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs["verify"] = ca_file
        return send(request, *args, **kwargs)

    adapter.send = pinned  # type: ignore[method-assign]
