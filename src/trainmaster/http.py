"""The one HTTP core: sessions, retries, lost responses and typed errors for every adapter.

Adapters (GitHub, Azure DevOps, Octopus) and the webhook notifier send every request through
:meth:`HttpClient.send` (or, when their transport is not a ``requests.Session``,
:meth:`HttpClient.run`). ``requests`` is imported only inside functions, so importing this
module is cheap (``trainmaster --help`` never loads ``requests``).

The contract
------------

* **Sessions** (:func:`new_session`): ``User-Agent: trainmaster/<version>``, a default
  ``(connect, read)`` timeout on every call (:data:`DEFAULT_TIMEOUT`) and ``requests``'/urllib3's
  own retries switched off: the loop below is the only retry.
* **Retries** (:class:`RetryPolicy`): at most ``attempts`` requests per call; between them a
  full-jitter exponential backoff (``rand() * min(cap, base * 2**(n-1))``) or the server's own
  wait (``Retry-After``, rate-limit headers; capped at ``max_wait``). The sum of the waits of one
  call never exceeds ``budget``: a wait that would, is not slept; the call fails at once.
  All waits go through ``policy.sleep`` (tests inject a recorder).
* **What is retried**: connection errors and timeouts, and the answers :meth:`Rules.classify`
  calls retryable (by default 408, 429, 500, 502, 503, 504, honouring ``Retry-After``).
  Any other status below 400 (or in ``ok``) is returned; anything else raises
  :meth:`Rules.error` (an :class:`~trainmaster.errors.ApiError`, exit 2) without a retry.
* **Idempotency**: GET, HEAD, OPTIONS, PUT and DELETE are idempotent by default, POST and PATCH
  are not (``idempotent=`` overrides). An idempotent call is simply repeated.
* **Lost responses** (a non-idempotent call that may have been applied: it was sent and no
  answer came back, or the answer was a 5xx): it is **never re-sent blindly**.

  - :func:`never_sent` decides, from the exception's types and wrapped causes, whether the
    request certainly never reached the server (DNS failure, connection refused, connect
    timeout, TLS handshake failure). Only then is it repeated like an idempotent call.
  - Otherwise the caller's ``recover()`` runs first. It returns the resource when the call
    took effect (``send`` returns that value instead of a response), ``None`` when it
    certainly did not (the call is then sent again), or :data:`UNKNOWN` when it cannot tell
    yet (it is asked again after a backoff, within the budget).
  - No ``recover``, an outcome still unknown when attempts or budget run out, or a
    ``recover`` that itself fails: :class:`~trainmaster.errors.OutcomeUnknown` (exit 5),
    whose message says nothing was sent twice and what to check.
  - A 429 (or any answer :meth:`Rules.classify` marks ``applied=False``) proves the call was
    refused, so it is repeated without a lookup.
* **Bodies**: ``json=``, bytes and str bodies are re-sent as is. A stream (an open file, an
  iterator) cannot be replayed: pass ``data=`` a *callable returning a fresh body* (it is
  called for every attempt and the body closed after it). A stream that may have been read
  is never re-sent: after ``recover()`` (non-idempotent calls) the call fails with
  ``Unavailable``. A body object whose ``complete`` attribute is False after a failure was
  not sent in full, so the server cannot have applied it.
* **Exhaustion**: :class:`~trainmaster.errors.Unavailable` (exit 5), saying a re-run is safe,
  with the last status, request id, method and URL.
* **Secrets**: no message, exception or detail ever holds an ``Authorization`` header, a token
  (:attr:`Rules.secrets` are scrubbed from body excerpts) or URL user info: URLs go through
  :attr:`Rules.redact` (:func:`safe_url` by default), exceptions are described by
  :func:`describe`, never by ``str(exc)`` (which can hold the full URL).

Adapter quirks live in a :class:`Rules` subclass: which answers are rate limits and how long
they say to wait (``classify``), how to pace before the next request (``pace``), which
typed error an answer becomes (``error``), and which headers carry the request id::

    class OctopusRules(Rules):
        def error(self, response, call):
            return OctopusApiError(..., **self.details(response, call))

    http = HttpClient(session=new_session(headers={"X-Octopus-ApiKey": key}),
                      policy=RetryPolicy(attempts=6, budget=120.0, sleep=sleep),
                      rules=OctopusRules("Octopus", secrets=[key]))
    result = http.send("POST", url, json=body, what=f"create the release {version}",
                       recover=lambda: find_release(version))  # the release, or None
    release = result if isinstance(result, dict) else result.json()

``what`` reads after "could not …" in messages. The budget and attempts are per call; ``send``
returns a response for success, or whatever ``recover()`` found.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trainmaster._http_util import (  # re-exported: import them from here
    DEFAULT_TIMEOUT,
    IDEMPOTENT_METHODS,
    REQUEST_ID_HEADERS,
    RETRY_STATUSES,
    UNKNOWN,
    describe,
    never_sent,
    new_session,
    request_id,
    retry_after,
    safe_url,
    untrusted_certificate,
    user_agent,
)
from trainmaster.errors import ApiError, InvalidInput, OutcomeUnknown, Unavailable

if TYPE_CHECKING:
    import requests

__all__ = [
    "DEFAULT_TIMEOUT",
    "IDEMPOTENT_METHODS",
    "REQUEST_ID_HEADERS",
    "RETRY_STATUSES",
    "UNKNOWN",
    "Call",
    "HttpClient",
    "Retry",
    "RetryPolicy",
    "Rules",
    "describe",
    "never_sent",
    "new_session",
    "request_id",
    "retry_after",
    "safe_url",
    "user_agent",
]

_EXCERPT = 300


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one call tries.

    :param attempts: requests per call, the first included.
    :param base: backoff base in seconds; the ceiling doubles per attempt.
    :param cap: the largest backoff ceiling in seconds.
    :param budget: the most seconds one call sleeps in all (retries, pacing and lookups).
    :param max_wait: the longest server-given wait (``Retry-After``, rate-limit reset) honoured.
    :param jitter: full jitter (``rand() * ceiling``); False waits the ceiling exactly.
    :param sleep: called for every wait; tests inject a recorder.
    :param rand: ``[0, 1)`` for jitter; tests inject a constant.
    """

    attempts: int = 5
    base: float = 1.0
    cap: float = 30.0
    budget: float = 120.0
    max_wait: float = 300.0
    jitter: bool = True
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = random.random

    def delay(self, attempt: int, server_wait: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one.

        A server-given wait is honoured (capped at ``max_wait``); otherwise exponential backoff.
        """
        if server_wait is not None:
            return max(0.0, min(server_wait, self.max_wait))
        ceiling = min(self.cap, self.base * 2 ** max(attempt - 1, 0))
        return ceiling * self.rand() if self.jitter else ceiling


@dataclass(frozen=True)
class Retry:
    """:meth:`Rules.classify`'s verdict on an answer worth retrying.

    :param wait: the server-given wait in seconds (``Retry-After``, rate-limit reset), or ``None``
        for the policy's backoff.
    :param applied: for a non-idempotent call: ``False`` when the answer proves it was not applied
        (a rate limit), ``None`` when it may have been (then ``recover()`` decides).
    :param reason: a short text for messages ("rate limited"); defaults to ``HTTP <status>``.
    """

    wait: float | None = None
    applied: bool | None = None
    reason: str = ""


@dataclass(frozen=True)
class Call:
    """What a message needs to name a call: method, secret-free URL and the caller's description."""

    method: str
    url: str
    what: str


class Rules:
    """An adapter's quirks. Subclass and override; the defaults suit a plain JSON API.

    :param service: the service's name in messages ("GitHub", "Octopus at https://…").
    :param secrets: strings (tokens) scrubbed from every body excerpt and message.
    :param request_id_headers: where the service puts its request id.
    :param redact: makes a URL safe to show; :func:`safe_url` by default.
    :param server: the server's base URL, for the adapter's messages.
    :param credential: where the credential came from (a variable's name), for the adapter's messages.
    """

    def __init__(self, service: str = "the server", *, secrets: Collection[str] = (),
                 request_id_headers: Collection[str] = REQUEST_ID_HEADERS,
                 redact: Callable[[str], str] = safe_url, server: str = "", credential: str = "") -> None:
        self.service = service
        self.server = server
        self.credential = credential
        self.secrets = [s for s in secrets if s]
        self.request_id_headers = tuple(request_id_headers)
        self.redact = redact

    def classify(self, response: requests.Response, attempt: int) -> Retry | None:
        """A :class:`Retry` when ``response`` (not a success) is worth retrying, else ``None``.

        Default: 429 and 408 (not applied) and 500/502/503/504 (maybe applied), waiting
        ``Retry-After`` when given.
        """
        status = response.status_code
        if status not in RETRY_STATUSES:
            return None
        return Retry(wait=retry_after(response.headers), applied=False if status in (408, 429) else None)

    @staticmethod
    def body(response: requests.Response) -> Any:
        """The answer's JSON, or None when it is not JSON (an HTML error page, an empty body)."""
        try:
            return response.json()
        except ValueError:
            return None

    def pace(self, response: requests.Response) -> float | None:
        """Seconds to wait before the *next* request of this client (rate-limit headers), or None."""
        return None

    def error(self, response: requests.Response, call: Call) -> Exception:
        """The typed error for a final failing answer; default a plain :class:`ApiError` (exit 2)."""
        body = self.excerpt(response)
        return ApiError(f"{self.service} refused to {call.what}" + (f": {body}" if body else ""),
                        **self.details(response, call))

    # -- helpers for subclasses --------------------------------------------------------------
    def scrub(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def excerpt(self, response: requests.Response, limit: int = _EXCERPT) -> str:
        """The scrubbed start of the body on one line, ``""`` when unreadable."""
        try:
            text = response.text[: limit * 2]
        except Exception:  # a consumed stream or undecodable bytes
            return ""
        return self.scrub(" ".join(text.split()))[:limit]

    def details(self, response: requests.Response | None, call: Call) -> dict[str, Any]:
        """The ``status_code``/``request_id``/``method``/``url``/``body_excerpt`` keywords of the errors."""
        if response is None:
            return {"method": call.method, "url": call.url}
        return {"status_code": response.status_code, "method": call.method, "url": call.url,
                "request_id": request_id(response.headers, self.request_id_headers),
                "body_excerpt": self.excerpt(response) or None}


class _Spent:
    """One call's waits against the policy's budget."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.slept = 0.0

    def fits(self, seconds: float) -> bool:
        return self.slept + seconds <= self.policy.budget

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.slept += seconds
            self.policy.sleep(seconds)


def _replayable(data: Any) -> bool:
    return data is None or callable(data) or isinstance(data, (bytes, bytearray, str, dict, list, tuple))


class HttpClient:
    """The choke point: every request of an adapter goes through :meth:`send` (or :meth:`run`).

    :param session: a session from :func:`new_session` (made lazily when omitted).
    :param policy: attempts, backoff, budget, sleep and jitter.
    :param rules: the adapter's quirks (:class:`Rules`).
    :param timeout: ``(connect, read)`` seconds for calls that pass none.

    ``calls`` counts the requests made (attempts included); ``last_reason`` is the last
    failure in words ("connection refused", "HTTP 503 Service Unavailable"), or None.
    """

    def __init__(self, *, session: requests.Session | None = None, policy: RetryPolicy | None = None,
                 rules: Rules | None = None, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self._session = session
        self.policy = policy or RetryPolicy()
        self.rules = rules or Rules()
        self.timeout = timeout
        self.calls = 0
        self.last_reason: str | None = None
        self._pause = 0.0

    def __repr__(self) -> str:
        return f"HttpClient({self.rules.service!r})"

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = new_session(timeout=self.timeout)
        return self._session

    def send(
        self,
        method: str,
        url: str,
        *,
        what: str | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
        idempotent: bool | None = None,
        recover: Callable[[], Any] | None = None,
        ok: Collection[int] | None = None,
        timeout: tuple[float, float] | None = None,
        stream: bool = False,
        allow_redirects: bool = True,
    ) -> Any:
        """Send one call with the retry and lost-response rules of this module.

        :param what: the call in words for messages ("create the release v1.2"); default ``METHOD URL``.
        :param data: bytes, str, a form mapping, or a *callable returning a fresh body* per attempt
            (streamed uploads); an open stream is not repeated once it may have been sent.
        :param idempotent: default: ``method`` in :data:`IDEMPOTENT_METHODS`.
        :param recover: for a non-idempotent call whose answer was lost: returns the resource if
            the call took effect, ``None`` if it certainly did not, :data:`UNKNOWN` if it cannot tell.
        :param ok: the statuses returned as success; default every status below 400.
        :returns: the :class:`requests.Response`, or ``recover()``'s result.
        :raises ApiError: (or the type :meth:`Rules.error` makes) a final error answer (exit 2).
        :raises Unavailable: retries or budget exhausted (exit 5); :class:`OutcomeUnknown` when the
            call may have been applied and nothing settled it.
        :raises InvalidInput: the URL is malformed (exit 2).
        """

        body: list[Any] = [None]

        def attempt() -> requests.Response:
            body[0] = data() if callable(data) else data
            try:
                return self.session.request(
                    method, url, params=params, json=json, data=body[0], headers=headers, auth=auth,
                    timeout=timeout or self.timeout, stream=stream, allow_redirects=allow_redirects)
            finally:
                if callable(data) and hasattr(body[0], "close"):
                    body[0].close()

        return self.run(method, url, attempt, what=what, idempotent=idempotent, recover=recover, ok=ok,
                        replayable=_replayable(data), sent_in_full=lambda: getattr(body[0], "complete", True))

    def run(
        self,
        method: str,
        url: str,
        attempt: Callable[[], requests.Response],
        *,
        what: str | None = None,
        idempotent: bool | None = None,
        recover: Callable[[], Any] | None = None,
        ok: Collection[int] | None = None,
        replayable: bool = True,
        sent_in_full: Callable[[], bool] = lambda: True,
    ) -> Any:
        """The retry loop around ``attempt()``, one request that returns a response or raises.

        For adapters whose transport is not :meth:`send` (e.g. a ``requests`` transport adapter
        under an SDK): same rules and parameters as :meth:`send`. ``replayable`` says whether the
        body may be sent again; ``sent_in_full()`` whether the last attempt's body went out whole.
        """
        import requests

        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        call = Call(method, self.rules.redact(url), what or f"{method} {self.rules.redact(url)}")
        spent = _Spent(self.policy)
        reason, last, n = "no answer", None, 0
        for n in range(1, max(self.policy.attempts, 1) + 1):
            if self._pause:
                pause, self._pause = self._pause, 0.0
                if not spent.fits(pause):
                    raise Unavailable(f"{self.rules.service} asks to slow down for {pause:.0f}s before the next "
                                      f"request, more than the retry budget of {self.policy.budget:.0f}s; "
                                      "re-run later (a re-run is safe)", **self.rules.details(None, call))
                spent.sleep(pause)
            self.calls += 1
            server_wait = None
            try:
                response = attempt()
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                reason, last, unsent = describe(exc), None, never_sent(exc)
                if (why := untrusted_certificate(exc)) is not None:
                    raise Unavailable(f"cannot {call.what}: {self.rules.service}'s TLS certificate is not trusted "
                                      f"({why}); not retried. Give the CA that signed it (the adapter's CA file "
                                      "setting or REQUESTS_CA_BUNDLE)", **self.rules.details(None, call)) from None
                maybe_applied = not unsent and sent_in_full()
            except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                    requests.exceptions.InvalidSchema) as exc:
                raise InvalidInput(f"cannot {call.what}: the URL is invalid ({type(exc).__name__})") from None
            else:
                status = response.status_code
                if (status in ok) if ok is not None else status < 400:
                    self._pace(response)
                    return response
                verdict = self.rules.classify(response, n)
                if verdict is None:
                    raise self.rules.error(response, call)
                self._pace(response)
                reason, last = verdict.reason or f"HTTP {status} {response.reason or ''}".strip(), response
                server_wait, unsent, maybe_applied = verdict.wait, False, verdict.applied is not False
                response.close()
            self.last_reason = reason
            if maybe_applied and not idempotent:
                found = self._recover(call, reason, recover, spent)
                if found is not None:
                    return found
            if not replayable and not unsent:
                raise Unavailable(
                    f"could not {call.what} ({reason}), and its body is a stream that cannot be sent again "
                    "(the adapter should pass a callable returning a fresh body). A re-run is safe",
                    **self.rules.details(last, call))
            if n == self.policy.attempts:
                break
            delay = self.policy.delay(n, server_wait)
            if not spent.fits(delay):
                raise Unavailable(
                    f"{self.rules.service} stayed unavailable: could not {call.what} ({reason}); waiting "
                    f"{delay:.0f}s more would exceed the retry budget of {self.policy.budget:.0f}s. "
                    "Re-run later (a re-run is safe)", **self.rules.details(last, call))
            spent.sleep(delay)
        raise Unavailable(
            f"{self.rules.service} stayed unavailable: could not {call.what} after {n} attempt(s) ({reason}). "
            "Re-run later (a re-run is safe)", **self.rules.details(last, call))

    def _pace(self, response: requests.Response) -> None:
        self._pause = max(0.0, self.rules.pace(response) or 0.0)

    def _unknown_text(self, call: Call, reason: str, why: str) -> str:
        return (f"could not {call.what}: it was sent to {self.rules.service} but the answer was lost ({reason}), "
                f"so it may have taken effect; it was not sent again ({why}), to avoid doing it twice. "
                f"Check {self.rules.service} for it before re-running")

    def _recover(self, call: Call, reason: str, recover: Callable[[], Any] | None, spent: _Spent) -> Any:
        """Ask ``recover()`` whether the lost call took effect; ``None`` means safe to send again."""
        if recover is None:
            raise OutcomeUnknown(self._unknown_text(call, reason, "no lookup is known for it"),
                                 method=call.method, url=call.url)
        for n in range(1, max(self.policy.attempts, 1) + 1):
            try:
                found = recover()
            except Unavailable as exc:
                raise OutcomeUnknown(self._unknown_text(call, reason, f"looking it up failed too: {exc}"),
                                     method=call.method, url=call.url) from None
            if found is not UNKNOWN:
                return found
            delay = self.policy.delay(n)
            if n == self.policy.attempts or not spent.fits(delay):
                break
            spent.sleep(delay)
        raise OutcomeUnknown(self._unknown_text(call, reason, "it has not appeared yet"),
                             method=call.method, url=call.url)


class HttpBacked:
    """An adapter client on :class:`HttpClient` (``self.http``): ``sleep`` reads and sets its policy's sleep."""

    http: HttpClient

    @property
    def sleep(self) -> Callable[[float], None]:
        return self.http.policy.sleep

    @sleep.setter
    def sleep(self, value: Callable[[float], None]) -> None:
        import dataclasses

        self.http.policy = dataclasses.replace(self.http.policy, sleep=value)

