"""Webhook delivery against a real HTTP server on loopback."""

from __future__ import annotations

import json
import socket
from datetime import datetime

import pytest

from tests.support.receiver import Server, server_fixture  # noqa: F401  (the `server` fixture)
from trainmaster.webhook import RETRY_AFTER_CAP, build_event, post_event, redact_url

TOKEN = "tok-9f8e7d6c5b4a39281706"


def test_delivers_json_event(server: Server) -> None:
    event = build_event("deployment_finished", version="1.2.3", environment="prod", status="succeeded")
    result = post_event(server.url(f"/hook?token={TOKEN}"), event, sleep=lambda _: None)
    assert (result.ok, result.status, result.attempts, result.error) == (True, 200, 1, None)
    [request] = server.requests
    assert request["path"] == f"/hook?token={TOKEN}"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["User-Agent"].startswith("trainmaster/")
    assert json.loads(request["body"]) == event


def test_retries_503_and_honours_retry_after(server: Server) -> None:
    server.replies = [(503, {"Retry-After": "7"}), (503, {}), (200, {})]
    waits: list[float] = []
    result = post_event(server.url(), {"event": "x"}, attempts=3, backoff=0.25, sleep=waits.append)
    assert result.ok and result.attempts == 3 and len(server.requests) == 3
    assert waits == [7.0, 0.5]


def test_retry_after_is_capped_and_429_is_retried(server: Server) -> None:
    server.replies = [(429, {"Retry-After": "3600"}), (200, {})]
    waits: list[float] = []
    result = post_event(server.url(), {"event": "x"}, sleep=waits.append)
    assert result.ok and waits == [RETRY_AFTER_CAP]


def test_gives_up_after_attempts_with_redacted_error(server: Server) -> None:
    server.replies = [(500, {})] * 3
    waits: list[float] = []
    url = server.url(f"/hooks/{TOKEN}?key=abc")
    result = post_event(url, {"event": "x"}, attempts=3, backoff=0.1, sleep=waits.append)
    assert not result.ok and result.status == 500 and result.attempts == 3
    assert waits == [0.1, 0.2]
    assert result.error is not None and "HTTP 500" in result.error
    assert TOKEN not in result.error and "abc" not in result.error


def test_client_error_is_not_retried(server: Server) -> None:
    server.replies = [(400, {})]
    waits: list[float] = []
    result = post_event(server.url(), {"event": "x"}, sleep=waits.append)
    assert (result.ok, result.status, result.attempts) == (False, 400, 1)
    assert waits == [] and len(server.requests) == 1


def test_redirect_is_not_followed(server: Server) -> None:
    server.replies = [(302, {"Location": server.url("/elsewhere")})]
    result = post_event(server.url(), {"event": "x"}, sleep=lambda _: None)
    assert not result.ok and result.status == 302 and len(server.requests) == 1


def test_connection_refused_is_retried_and_redacted() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    url = f"http://user:{TOKEN}@127.0.0.1:{port}/services/T000/{TOKEN}?sig={TOKEN}"
    waits: list[float] = []
    result = post_event(url, {"event": "x"}, attempts=2, backoff=0.01, timeout=2, sleep=waits.append)
    assert not result.ok and result.status is None and result.attempts == 2 and waits == [0.01]
    assert result.error is not None and TOKEN not in result.error and "user" not in result.error
    assert f"127.0.0.1:{port}/services/T000/***" in result.error


def test_non_http_scheme_is_refused() -> None:
    result = post_event(f"file:///etc/{TOKEN}", {"event": "x"}, sleep=lambda _: None)
    assert not result.ok and result.attempts == 0
    assert result.error is not None and TOKEN not in result.error


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://hooks.example.com/services/T0/B0/abcdefghijklmnopqrstuvwx",
            "https://hooks.example.com/services/T0/B0/***",
        ),
        ("https://u:p@example.com:8443/a?token=1#frag", "https://***@example.com:8443/a?***#***"),
        ("http://example.com/short/path", "http://example.com/short/path"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("http://[bad", "<unparsable URL>"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_build_event_shape() -> None:
    event = build_event("release_created", version="1.0.0")
    assert list(event) == ["schema_version", "event", "time", "version"]
    assert event["schema_version"] == 1
    assert event["event"] == "release_created"
    assert event["time"].endswith("Z")
    assert datetime.fromisoformat(event["time"]).utcoffset() is not None


def test_core_modules_import_cheaply() -> None:
    """Importing the runner, masking and webhook modules loads neither requests nor urllib.request."""
    import subprocess
    import sys

    code = (
        "import sys, trainmaster.webhook, trainmaster.runner, trainmaster.masking;"
        "print(sorted(m for m in ('requests', 'urllib.request', 'ssl', 'subprocess') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_user_info_is_sent_as_basic_auth_not_in_the_url(server: Server) -> None:
    import base64

    url = server.url("/hook").replace("http://", f"http://hook%40user:{TOKEN}%2F@")
    result = post_event(url, {"event": "x"}, sleep=lambda _: None)
    assert result.ok and result.attempts == 1
    [request] = server.requests
    assert request["path"] == "/hook"
    expected = base64.b64encode(f"hook@user:{TOKEN}/".encode()).decode()
    assert request["headers"]["Authorization"] == f"Basic {expected}"


def test_user_info_never_appears_in_a_failure(server: Server) -> None:
    server.replies = [(500, {})] * 2
    url = server.url("/hook").replace("http://", f"http://hookuser:{TOKEN}@")
    result = post_event(url, {"event": "x"}, attempts=2, backoff=0.01, sleep=lambda _: None)
    assert not result.ok and result.attempts == 2 and len(server.requests) == 2
    assert result.error is not None and TOKEN not in result.error and "hookuser" not in result.error


def test_notifier_delivers_to_a_url_with_user_info_and_warns_without_it(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    from trainmaster.builtin.webhook import _deliver
    from trainmaster.config.model import Notifier

    class Config:
        project = "shop"
        notify = [Notifier(webhook=server.url("/ok").replace("http://", f"http://hookuser:{TOKEN}@"), events=()),
                  Notifier(webhook=server.url("/bad").replace("http://", f"http://hookuser:{TOKEN}@"), events=())]

    server.replies = [(200, {}), (403, {})]
    _deliver(Config(), {}, "release_created", {"release": {"version": "1.0.0"}})  # type: ignore[arg-type]
    assert [r["path"] for r in server.requests] == ["/ok", "/bad"]
    assert all(r["headers"]["Authorization"].startswith("Basic ") for r in server.requests)
    err = capsys.readouterr().err
    assert "webhook not delivered" in err and "HTTP 403" in err
    assert TOKEN not in err and "hookuser" not in err


def test_a_retry_carries_the_same_delivery_id_and_signature(server: Server) -> None:
    from trainmaster.webhook import signature

    server.replies = [(503, {}), (200, {})]
    event = build_event("gates_finished", gates={"passed": True})
    result = post_event(server.url(), event, secret="s3cret-value", sleep=lambda _: None)
    assert result.ok and result.attempts == 2
    first, second = (r["headers"] for r in server.requests)
    assert first["X-Trainmaster-Delivery"] == second["X-Trainmaster-Delivery"]
    assert first["X-Trainmaster-Event"] == "gates_finished"
    body = server.requests[1]["body"]
    assert second["X-Trainmaster-Signature-256"] == signature("s3cret-value", body)
    assert second["X-Trainmaster-Signature-256"].startswith("sha256=") and len(body) > 0


def test_a_signing_secret_that_resolves_empty_sends_nothing_unsigned(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    """A secret store plugin may answer "" for a missing value: the event is then not sent, never sent unsigned."""
    from trainmaster.builtin.webhook import _deliver
    from trainmaster.config.model import Notifier, SecretRef

    class Config:
        project = "shop"
        notify = [Notifier(webhook=server.url("/hook"), events=(), secret=SecretRef("vault:hooks/sign"))]

    _deliver(Config(), {"vault": lambda name, environ: ""}, "release_created",  # type: ignore[arg-type]
             {"release": {"version": "1.0.0"}})
    assert server.requests == []
    assert "signing secret (notify: secret:) resolved to an empty value" in capsys.readouterr().err
