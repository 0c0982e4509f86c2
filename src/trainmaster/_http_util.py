"""Helpers of :mod:`trainmaster.http`: URL redaction, ``Retry-After``, error classification, sessions.

Import them from :mod:`trainmaster.http`, which documents the contract; ``requests`` and
urllib3 are imported inside the functions that need them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)
"""``(connect, read)`` seconds used when neither the session nor the call says otherwise."""
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
REQUEST_ID_HEADERS = (
    "X-GitHub-Request-Id",
    "X-Request-Id",
    "X-VSS-ActivityId",
    "ActivityId",
    "X-MS-Request-Id",
    "X-VSS-E2EID",
    "X-Correlation-Id",
)
"""Headers that carry a service's request id, tried in order (case-insensitively)."""
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_SECRET_PARAM_WORDS = ("token", "key", "sig", "code", "secret", "password", "auth", "credential")


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
"""What ``recover()`` returns when it cannot tell yet whether the lost call took effect."""


def user_agent() -> str:
    """``trainmaster/<version>``."""
    from trainmaster import __version__

    return f"trainmaster/{__version__}"


def new_session(
    *,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    headers: Mapping[str, str] | None = None,
    agent: str | None = None,
) -> requests.Session:
    """A ``requests.Session`` with trainmaster's User-Agent, default timeouts and no hidden retries.

    :param timeout: ``(connect, read)`` seconds applied to calls that pass no timeout.
    :param headers: extra headers for every call (e.g. ``Accept``). Credentials belong here or in
        ``session.auth``; they are never copied into a message.
    :param agent: a User-Agent other than :func:`user_agent`.
    """
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry as _Urllib3Retry

    class _Transport(HTTPAdapter):
        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = timeout
            return super().send(request, *args, **kwargs)

    session = requests.Session()
    off = _Urllib3Retry(total=0, connect=0, read=False, redirect=False, status=0, raise_on_status=False)
    for prefix in ("http://", "https://"):
        session.mount(prefix, _Transport(max_retries=off))
    session.headers["User-Agent"] = agent or user_agent()
    session.headers.update(headers or {})
    return session


def retry_after(headers_or_value: Mapping[str, str] | str | None, cap: float | None = None,
                *, clock: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    :param headers_or_value: response headers (a case-insensitive mapping) or the header's value.
    :param cap: the longest wait returned; ``None`` for no cap.
    :returns: ``>= 0`` seconds, or ``None`` when the header is absent or invalid.
    """
    value = headers_or_value
    if value is not None and not isinstance(value, str):
        value = value.get("Retry-After") or value.get("retry-after")
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - clock()
    if seconds != seconds:  # NaN
        return None
    seconds = max(seconds, 0.0)
    return min(seconds, cap) if cap is not None else seconds


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (``__cause__``, exception ``args``, urllib3's ``reason``), outermost first."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 20:
        cur = todo.pop(0)
        if any(cur is s for s in seen):
            continue
        seen.append(cur)
        inner = [getattr(cur, "reason", None), cur.__cause__, *getattr(cur, "args", ())]
        todo += [e for e in inner if isinstance(e, BaseException)]
    return seen


def never_sent(exc: BaseException) -> bool:
    """True only when the request certainly never reached the server, so repeating it is safe.

    True: DNS failure, connection refused, connect timeout, TLS handshake failure (urllib3's
    ``NewConnectionError``/``NameResolutionError``/``ConnectTimeoutError``/``SSLError``,
    ``requests.ConnectTimeout``, ``requests.exceptions.SSLError``, ``ConnectionRefusedError``,
    ``socket.gaierror``). False: read timeouts, resets, aborts and disconnects, an unexpected TLS
    EOF (a server may drop a connection after reading the request), chunked-encoding errors, and
    anything unrecognised. Decided by the types of ``exc`` and of what it wraps (``__cause__``,
    ``args``, urllib3's ``reason``): any "may have been sent" type wins over a "not sent" one.
    """
    import socket
    import ssl

    import requests
    from urllib3 import exceptions as u3

    maybe_sent = (requests.ReadTimeout, requests.exceptions.ChunkedEncodingError, u3.ReadTimeoutError,
                  u3.ProtocolError, ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
                  ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)
    not_sent = (requests.ConnectTimeout, requests.exceptions.SSLError, u3.NewConnectionError,
                u3.ConnectTimeoutError, u3.SSLError, ssl.SSLError, ConnectionRefusedError, socket.gaierror)
    chain = _causes(exc)
    if any(isinstance(cur, maybe_sent) for cur in chain):
        return False
    return any(isinstance(cur, not_sent) for cur in chain)


def untrusted_certificate(exc: BaseException) -> str | None:
    """Why the server's TLS certificate was refused, when that is what ``exc`` is; else ``None``.

    Not transient: retrying cannot help, so callers fail at once instead of backing off.
    """
    import ssl

    for cur in _causes(exc):
        if isinstance(cur, ssl.SSLCertVerificationError):
            return str(cur.verify_message or "certificate verify failed")[:200]
    return None


def describe(exc: BaseException) -> str:
    """A short, URL-free description of a transport failure ("connection refused", "read timeout")."""
    import socket
    import ssl

    from urllib3 import exceptions as u3

    names: list[tuple[type[BaseException] | tuple[type[BaseException], ...], str]] = [
        ((u3.NameResolutionError, socket.gaierror), "DNS lookup failed"),
        (ConnectionRefusedError, "connection refused"),
        ((u3.NewConnectionError,), "could not connect"),
        (u3.ConnectTimeoutError, "connect timeout"),
        ((u3.SSLError, ssl.SSLError), "TLS handshake failed"),
        ((u3.ReadTimeoutError, TimeoutError), "read timeout"),
        ((ConnectionResetError, ConnectionAbortedError, BrokenPipeError), "connection reset"),
        (u3.ProtocolError, "connection lost"),
    ]
    chain = _causes(exc)
    for types, text in names:
        if any(isinstance(cur, types) for cur in chain):
            return text
    return type(exc).__name__


def safe_url(url: str) -> str:
    """``url`` without user info, and with the values of secret-looking query parameters
    (``token``, ``key``, ``sig``/``signature``, ``code``, ``secret``, ``password``, ``auth``…) as ``***``."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "<unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port else "")
    query = [(k, "***" if any(w in k.lower() for w in _SECRET_PARAM_WORDS) else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), ""))


def request_id(headers: Mapping[str, str], names: Collection[str] = REQUEST_ID_HEADERS) -> str | None:
    """The first non-empty header of ``names`` (a service's request or activity id)."""
    lowered = {str(k).lower(): v for k, v in headers.items()}
    for name in names:
        value = lowered.get(name.lower())
        if value:
            return str(value)[:200]
    return None
