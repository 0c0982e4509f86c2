"""Deliver JSON events to webhook URLs, with retries, never failing the caller.

Webhook URLs carry tokens, so nothing this module reports contains one: every
message names the URL through :func:`redact_url`. Only the standard library is
used (no ``requests`` in the core), imported when an event is actually posted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RETRY_AFTER_CAP = 30.0
"""The longest ``Retry-After`` wait honoured, in seconds."""

_LONG_SEGMENT = 16
_BODY_LIMIT = 65536


@dataclass(frozen=True)
class WebhookResult:
    """The outcome of one delivery.

    :param ok: the server answered 2xx.
    :param status: the last HTTP status received, ``None`` if none was.
    :param attempts: how many requests were made.
    :param error: why delivery failed, with the URL redacted; ``None`` when ok.
    """

    ok: bool
    status: int | None
    attempts: int
    error: str | None = None


def redact_url(url: str) -> str:
    """Return ``url`` with everything that may be a token replaced by ``***``.

    Redacted: user info (``user:pass@``), the query string, the fragment and every
    path segment longer than 16 characters. Scheme, host, port and short path
    segments stay, so the message still says where delivery went.
    """
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = ("***@" if "@" in parts.netloc else "") + host + (f":{port}" if port else "")
    path = "/".join("***" if len(seg) > _LONG_SEGMENT else seg for seg in parts.path.split("/"))
    return urlunsplit(
        (parts.scheme, netloc, path, "***" if parts.query else "", "***" if parts.fragment else "")
    )


def _secret_pieces(url: str) -> list[str]:
    """The parts of ``url`` that :func:`redact_url` hides, longest first."""
    from urllib.parse import unquote, urlsplit

    pieces = [url]
    try:
        parts = urlsplit(url)
    except ValueError:
        return pieces
    if "@" in parts.netloc:
        pieces.append(parts.netloc.rsplit("@", 1)[0])
    pieces += [parts.query, parts.fragment]
    pieces += [seg for seg in parts.path.split("/") if len(seg) > _LONG_SEGMENT]
    pieces += [unquote(piece) for piece in pieces]
    return sorted({p for p in pieces if p}, key=len, reverse=True)


def _scrub(message: str, url: str) -> str:
    for piece in _secret_pieces(url):
        message = message.replace(piece, "***")
    return message


def _user_agent() -> str:
    try:
        from importlib.metadata import version

        return f"trainmaster/{version('trainmaster')}"
    except Exception:  # not installed, or broken metadata
        return "trainmaster/dev"


def _retry_after(value: str | None) -> float | None:
    """Parse a ``Retry-After`` header (seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def post_event(
    url: str,
    event: dict[str, Any],
    *,
    timeout: float = 5.0,
    attempts: int = 3,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> WebhookResult:
    """POST ``event`` as JSON to ``url``; retry transient failures; never raise.

    Connection errors, timeouts, 429 and 5xx are retried up to ``attempts``
    requests in all, waiting ``backoff * 2**n`` seconds between them, or the
    server's ``Retry-After`` (capped at :data:`RETRY_AFTER_CAP`) when it sends one.
    Other statuses (4xx, and redirects, which are not followed) fail at once.

    :param url: an ``http`` or ``https`` URL; it may carry a token.
    :param event: a JSON-serialisable mapping, see :func:`build_event`.
    :param timeout: seconds for each request.
    :param sleep: the sleep function, injectable for tests.
    :returns: a :class:`WebhookResult` whose ``error`` never shows the URL's secrets.
    """
    import json
    import urllib.error
    import urllib.request
    from http.client import HTTPException
    from urllib.parse import urlsplit

    where = redact_url(url)
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https"):
        return WebhookResult(False, None, 0, f"POST {where}: only http and https URLs are supported")
    try:
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        return WebhookResult(False, None, 0, f"POST {where}: event is not JSON: {exc}")

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(_NoRedirect)
    headers = {"Content-Type": "application/json", "User-Agent": _user_agent()}
    status: int | None = None
    error = ""
    attempt = 0
    for attempt in range(1, max(attempts, 1) + 1):
        wait: float | None = None
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with opener.open(request, timeout=timeout) as response:
                status = response.status
                response.read(_BODY_LIMIT)
            return WebhookResult(True, status, attempt)
        except urllib.error.HTTPError as exc:
            status = exc.code
            error = f"HTTP {exc.code} {exc.reason}"
            wait = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            exc.close()
            if status != 429 and status < 500:
                break
        except urllib.error.URLError as exc:
            error = str(exc.reason)
        except (TimeoutError, ConnectionError, HTTPException, OSError) as exc:
            error = str(exc) or type(exc).__name__
        except ValueError as exc:  # an invalid URL: retrying cannot help
            error = str(exc)
            break
        if attempt < attempts:
            sleep(wait if wait is not None else backoff * 2 ** (attempt - 1))
    message = f"POST {where} failed after {attempt} attempt(s): {_scrub(error, url)}"
    return WebhookResult(False, status, attempt, message)


def build_event(kind: str, **fields: Any) -> dict[str, Any]:
    """Return ``{"event": kind, "time": <now, ISO 8601 UTC>, **fields}``."""
    from datetime import UTC, datetime

    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {"event": kind, "time": now, **fields}
