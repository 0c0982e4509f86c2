"""The one HTTP choke point of the AWX adapter, on :mod:`trainmaster.http`.

Every call to the controller goes through :meth:`AwxClient.request`, which sends it with the core's
:class:`~trainmaster.http.HttpClient` (timeouts, retries with backoff and jitter, ``Retry-After``,
the retry budget, the lost-response protocol). This module keeps only what is AWX's own:

* authentication: ``Authorization: Bearer`` with the OAuth2 token (``CONTROLLER_OAUTH_TOKEN``,
  the variable the ``ansible.controller`` collection and ``awxkit`` read);
* error mapping (:class:`AwxRules`): 401/403 name the token's source, 404 is :class:`AwxNotFound`,
  every error carries AWX's ``detail`` (or its field errors);
* paging (``count``/``next``/``results``) and the controller URL's links.

The token never appears in a message, an exception or a ``repr``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from trainmaster.errors import ApiError, InvalidInput
from trainmaster.http import UNKNOWN, Call, HttpBacked, HttpClient, RetryPolicy, Rules, new_session

if TYPE_CHECKING:
    import requests

__all__ = ["UNKNOWN", "AwxApiError", "AwxClient", "AwxNotFound", "AwxRules"]


class AwxApiError(ApiError):
    """The controller answered with an error (exit 2 unless handled)."""


class AwxNotFound(AwxApiError):
    """404: the template, job or approval does not exist."""


class AwxRules(Rules):
    """AWX's quirks for :class:`~trainmaster.http.HttpClient`: typed errors with AWX's own words."""

    def error(self, response: requests.Response, call: Call) -> Exception:
        body = self.body(response)
        says = ""
        if isinstance(body, dict):
            says = str(body.get("detail") or body.get("error") or "") or "; ".join(
                f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in body.items())
        says = self.scrub(says)[:300]
        details = self.details(response, call)
        path = urlsplit(call.url).path or call.url
        status = response.status_code
        if status == 401:
            return AwxApiError(f"the AWX controller at {self.server} rejected the token: check {self.credential} "
                               "(it is wrong, expired or revoked)", **details)
        if status == 403:
            return AwxApiError(f"the token in {self.credential} may not {call.what}: grant its user the role "
                               f"(execute on the template, approve on the workflow){': ' + says if says else ''}",
                               **details)
        if status == 404:
            return AwxNotFound(f"the AWX controller has no {path}", **details)
        return AwxApiError(f"the AWX controller refused to {call.what}{': ' + says if says else ''}", **details)


class AwxClient(HttpBacked):
    """A session against one controller.

    :param url: the controller URL (``CONTROLLER_HOST``), e.g. ``https://aap.example.com``.
    :param token: the OAuth2 token, sent as ``Authorization: Bearer``.
    :param token_source: where the token came from, for messages (never the token itself).
    :param sleep: every wait (retries, polls); tests record sleeps instead of waiting.
    """

    def __init__(self, url: str, token: str, *, token_source: str = "CONTROLLER_OAUTH_TOKEN",
                 timeout: tuple[float, float] = (10.0, 60.0), max_attempts: int = 6, retry_budget: float = 120.0,
                 sleep: Callable[[float], None] = time.sleep, session: requests.Session | None = None) -> None:
        if not url:
            raise InvalidInput("no AWX controller: set CONTROLLER_HOST or awx.url (e.g. https://aap.example.com)")
        if not token:
            raise InvalidInput(f"{token_source} is not set: set it to an OAuth2 token of the controller "
                               "(Users > Tokens), or point awx.token at a secret reference")
        self.server = url.rstrip("/")
        if self.server.endswith("/api/v2"):
            self.server = self.server[: -len("/api/v2")]
        self._token_source = token_source
        self.http = HttpClient(
            session=session or new_session(timeout=timeout, headers={"Authorization": f"Bearer {token}"}),
            policy=RetryPolicy(attempts=max(1, max_attempts), base=0.5, budget=retry_budget, sleep=sleep),
            rules=AwxRules(f"the AWX controller at {self.server}", secrets=[token], server=self.server,
                           credential=token_source), timeout=timeout)

    def __repr__(self) -> str:
        return f"AwxClient({self.server!r}, token from {self._token_source})"

    def api(self, path: str) -> str:
        """The full URL of an API path (``job_templates/3/``, or ``/api/v2/jobs/4/`` as AWX links it)."""
        if path.startswith("/"):
            return self.server + path
        return f"{self.server}/api/v2/{path}"

    def ui(self, fragment: str) -> str:
        """A link into the controller's web UI (``jobs/playbook/4``)."""
        return f"{self.server}/#/{fragment}"

    def request(self, method: str, path: str, *, what: str, params: dict[str, Any] | None = None,
                json: Any = None, recover: Callable[[], Any] | None = None, ok: tuple[int, ...] | None = None,
                idempotent: bool | None = None) -> Any:
        """Send one call; returns the parsed JSON body (``None`` when empty), or ``recover()``'s result."""
        result = self.http.send(method, self.api(path), what=what, params=params, json=json, recover=recover,
                                ok=ok, idempotent=idempotent)
        if not hasattr(result, "status_code"):
            return result
        if not result.content:
            return None
        if "json" not in (result.headers.get("Content-Type") or ""):
            return result.text
        return result.json()

    def get(self, path: str, params: dict[str, Any] | None = None, *, what: str | None = None) -> Any:
        return self.request("GET", path, params=params, what=what or f"read {path}")

    def first_page(self, path: str, params: dict[str, Any], *, what: str) -> list[dict[str, Any]]:
        """The ``results`` of one page of a list (callers ask for ``page_size`` and ``order_by``)."""
        body = self.get(path, params, what=what) or {}
        return list(body.get("results") or [])
