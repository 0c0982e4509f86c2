"""Deliver JSON events to webhook URLs, with retries, never failing the caller.

Webhook URLs carry tokens, so nothing this module reports contains one: every
message names the URL through :func:`redact_url`. Events are sent through the
shared HTTP core (:mod:`trainmaster.http`), imported only when an event is posted.

Every event carries ``schema_version`` (:data:`SCHEMA_VERSION`); its shape is
``docs/schemas/webhook.schema.json``. With a secret, the exact bytes sent are signed
like GitHub's webhooks: ``X-Trainmaster-Signature-256: sha256=<hex HMAC-SHA256 of the
body keyed with the secret>`` (:func:`signature`); the receiver recomputes it over the
raw body and compares in constant time (``docs/webhooks.md``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 1
"""The version of the events' JSON shape; raised on any change a receiver could notice."""

SIGNATURE_HEADER = "X-Trainmaster-Signature-256"

RETRY_AFTER_CAP = 30.0
"""The longest ``Retry-After`` wait honoured, in seconds."""

_LONG_SEGMENT = 16


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


def _split_userinfo(url: str) -> tuple[str, tuple[bytes, bytes] | None]:
    """``url`` without its user info, and that user info as Basic-auth credentials (or None)."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    user = unquote(parts.username or "").encode("utf-8")
    password = unquote(parts.password or "").encode("utf-8")
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])), (user, password)


def signature(secret: str, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``body`` keyed with ``secret`` (UTF-8)."""
    import hashlib
    import hmac

    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def post_event(
    url: str,
    event: dict[str, Any],
    *,
    secret: str | None = None,
    kind: str | None = None,
    timeout: float = 5.0,
    attempts: int = 3,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> WebhookResult:
    """POST ``event`` as JSON to ``url``; retry transient failures; never raise.

    Sent through :class:`trainmaster.http.HttpClient`. Connection errors, timeouts, 429 and 5xx
    are retried up to ``attempts`` requests in all, waiting ``backoff * 2**n`` seconds between
    them, or the server's ``Retry-After`` (capped at :data:`RETRY_AFTER_CAP`) when it sends one.
    Delivery is at least once, as webhooks conventionally are: a POST whose answer was lost is
    sent again, with the same ``X-Trainmaster-Delivery`` id so that the receiver can drop it.
    Other statuses (4xx, and redirects, which are not followed) fail at once.
    User info in the URL (``https://user:pass@host/…``) is sent as Basic authentication, never
    in the URL, and never appears in the result.

    :param url: an ``http`` or ``https`` URL; it may carry a token.
    :param event: a JSON-serialisable mapping, see :func:`build_event` (or a Slack/Teams message).
    :param kind: the event's name for the ``X-Trainmaster-Event`` header (default: ``event["event"]``).
    :param secret: when given, the body is signed in :data:`SIGNATURE_HEADER` (see :func:`signature`).
    :param timeout: seconds for connecting and for each read.
    :param sleep: the sleep function, injectable for tests.
    :returns: a :class:`WebhookResult` whose ``error`` never shows the URL's secrets.
    """
    import json
    from http import HTTPStatus
    from urllib.parse import urlsplit

    from trainmaster.errors import TrainmasterError
    from trainmaster.http import HttpClient, RetryPolicy, Rules

    where = redact_url(url)
    try:
        scheme = urlsplit(url).scheme.lower()
        target, auth = _split_userinfo(url)
    except ValueError:
        scheme, target, auth = "", url, None
    if scheme not in ("http", "https"):
        return WebhookResult(False, None, 0, f"POST {where}: only http and https URLs are supported")
    try:
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        return WebhookResult(False, None, 0, f"POST {where}: event is not JSON: {exc}")

    attempts = max(attempts, 1)
    policy = RetryPolicy(attempts=attempts, base=backoff, cap=RETRY_AFTER_CAP, budget=RETRY_AFTER_CAP * attempts,
                         max_wait=RETRY_AFTER_CAP, jitter=False, sleep=sleep)
    secrets = _secret_pieces(url) + ([secret] if secret else [])
    client = HttpClient(policy=policy, rules=Rules("the webhook", secrets=secrets, redact=redact_url),
                        timeout=(timeout, timeout))
    import uuid

    headers = {"Content-Type": "application/json", "X-Trainmaster-Delivery": uuid.uuid4().hex}  # same on a retry
    kind = kind or (event["event"] if isinstance(event.get("event"), str) else None)
    if kind:
        headers["X-Trainmaster-Event"] = kind
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    status: int | None = None
    try:
        response = client.send("POST", target, what=f"POST {where}", data=body, auth=auth, idempotent=True,
                               headers=headers, allow_redirects=False)
        status = response.status_code
        response.close()
        if 200 <= status < 300:
            return WebhookResult(True, status, client.calls)
    except TrainmasterError as exc:
        status = getattr(exc, "status_code", None)
        if status is None and client.last_reason is None:
            client.last_reason = str(exc)
    except Exception as exc:  # never raise: a notifier must not fail the deployment
        client.last_reason = type(exc).__name__
    if status is not None:
        try:
            detail = f"HTTP {status} {HTTPStatus(status).phrase}"
        except ValueError:
            detail = f"HTTP {status}"
    else:
        detail = client.last_reason or "no answer"
    message = f"POST {where} failed after {client.calls} attempt(s): {_scrub(detail, url)}"
    return WebhookResult(False, status, client.calls, message)


def build_event(kind: str, **fields: Any) -> dict[str, Any]:
    """Return ``{"schema_version": 1, "event": kind, "time": <now, trainmaster's one format>, **fields}``."""
    from trainmaster.model import timestamp

    return {"schema_version": SCHEMA_VERSION, "event": kind, "time": timestamp(), **fields}
