"""The shared HTTP core (trainmaster.http) against a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from trainmaster import __version__
from trainmaster.errors import ApiError, OutcomeUnknown, Unavailable
from trainmaster.http import (
    UNKNOWN,
    HttpClient,
    Retry,
    RetryPolicy,
    Rules,
    never_sent,
    new_session,
    retry_after,
    safe_url,
)

TOKEN = "tok-5e4d3c2b1a09f8e7d6c5"


class Loopback:
    """A scripted server. POST /items creates an item; GET /items?name=N lists the matches.

    ``script`` holds one action per request, used first: ``("reply", status, headers, body)``,
    ``("drop", applied)`` (read the request, maybe apply it, close without answering) or
    ``("hang",)`` (answer nothing until the test ends).
    """

    def __init__(self) -> None:
        self.script: list[tuple[Any, ...]] = []
        self.log: list[tuple[str, str]] = []
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.items: list[dict[str, Any]] = []
        self.release = threading.Event()
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                srv.log.append((self.command, self.path))
                srv.bodies.append(body)
                srv.headers.append(dict(self.headers))
                action = srv.script.pop(0) if srv.script else ("default",)
                if action[0] == "drop":
                    if action[1]:
                        srv.create(body)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if action[0] == "hang":
                    srv.release.wait(10)
                    self.close_connection = True
                    return
                if action[0] == "reply":
                    _, status, headers, text = action
                    self.answer(status, text.encode(), headers)
                elif self.command == "POST":
                    self.answer(201, json.dumps(srv.create(body)).encode())
                else:
                    name = parse_qs(urlsplit(self.path).query).get("name", [None])[0]
                    self.answer(200, json.dumps([i for i in srv.items if i["name"] == name]).encode())

            def answer(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    def create(self, body: bytes) -> dict[str, Any]:
        item = {"id": len(self.items) + 1, **json.loads(body or b"{}")}
        self.items.append(item)
        return item

    def url(self, path: str = "/items") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def methods(self) -> list[str]:
        return [method for method, _ in self.log]


@pytest.fixture
def server() -> Iterator[Loopback]:
    srv = Loopback()
    srv.thread.start()
    yield srv
    srv.release.set()
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def waits() -> list[float]:
    return []


def client(waits: list[float], *, rules: Rules | None = None, **policy: Any) -> HttpClient:
    settings: dict[str, Any] = {"attempts": 4, "base": 1.0, "cap": 8.0, "budget": 100.0, "rand": lambda: 0.5}
    return HttpClient(policy=RetryPolicy(sleep=waits.append, **{**settings, **policy}), rules=rules,
                      timeout=(2.0, 2.0))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: nothing listens there


def lookup(http: HttpClient, server: Loopback, name: str) -> Callable[[], Any]:
    """The recover() of a create: the item if it exists, else None (not applied)."""

    def recover() -> Any:
        found = http.send("GET", server.url(f"/items?name={name}")).json()
        return found[0] if found else None

    return recover


# -- retries --------------------------------------------------------------------------------------
def test_429_with_retry_after_seconds_is_retried_after_that_wait(server: Loopback, waits: list[float]) -> None:
    server.script = [("reply", 429, {"Retry-After": "7"}, "slow down")]
    response = client(waits).send("GET", server.url("/thing"))
    assert response.status_code == 200 and waits == [7.0] and len(server.log) == 2


def test_retry_after_as_an_http_date_is_honoured(server: Loopback, waits: list[float]) -> None:
    import time

    server.script = [("reply", 429, {"Retry-After": formatdate(time.time() + 60, usegmt=True)}, "")]
    client(waits).send("GET", server.url("/thing"))
    assert len(waits) == 1 and 50 < waits[0] <= 60


def test_503_then_200_retries_with_jittered_backoff(server: Loopback, waits: list[float]) -> None:
    server.script = [("reply", 503, {}, ""), ("reply", 502, {}, "")]
    http = client(waits)
    assert http.send("GET", server.url("/thing")).status_code == 200
    assert waits == [0.5, 1.0] and http.calls == 3  # rand()=0.5 times 1s, 2s


def test_a_client_error_is_not_retried_and_carries_the_details(server: Loopback, waits: list[float]) -> None:
    server.script = [("reply", 404, {"X-Request-Id": "req-42"}, f'{{"message": "no such thing {TOKEN}"}}')]
    rules = Rules("Example", secrets=[TOKEN])
    with pytest.raises(ApiError) as info:
        client(waits, rules=rules).send("GET", server.url(f"/thing?access_token={TOKEN}&page=2"))
    err = info.value
    assert (err.exit_code, err.status_code, err.request_id, err.method) == (2, 404, "req-42", "GET")
    assert err.url == server.url("/thing?access_token=***&page=2")
    assert TOKEN not in str(err) and TOKEN not in (err.body_excerpt or "") and "no such thing" in str(err)
    assert waits == [] and len(server.log) == 1


def test_exhausted_attempts_are_unavailable_exit_5(server: Loopback, waits: list[float]) -> None:
    server.script = [("reply", 503, {"X-Request-Id": "req-7"}, "down")] * 3
    with pytest.raises(Unavailable) as info:
        client(waits, attempts=3).send("GET", server.url("/thing"))
    err = info.value
    assert err.exit_code == 5 and (err.status_code, err.request_id, err.method) == (503, "req-7", "GET")
    assert "after 3 attempt(s)" in str(err) and "re-run is safe" in str(err) and len(server.log) == 3


def test_a_wait_beyond_the_budget_is_not_slept(server: Loopback, waits: list[float]) -> None:
    server.script = [("reply", 503, {"Retry-After": "90"}, "")]
    with pytest.raises(Unavailable) as info:
        client(waits, budget=60.0).send("GET", server.url("/thing"))
    assert info.value.exit_code == 5 and "retry budget" in str(info.value) and waits == []


def test_an_adapter_classifies_its_own_rate_limit_and_paces(server: Loopback, waits: list[float]) -> None:
    class Quirky(Rules):
        def classify(self, response: requests.Response, attempt: int) -> Retry | None:
            if response.status_code == 403 and response.headers.get("X-RateLimit-Remaining") == "0":
                return Retry(wait=float(response.headers["X-Wait"]), applied=False, reason="rate limited")
            return super().classify(response, attempt)

        def pace(self, response: requests.Response) -> float | None:
            return 3.0 if response.headers.get("X-Low") else None

    server.script = [("reply", 403, {"X-RateLimit-Remaining": "0", "X-Wait": "12"}, ""),
                     ("reply", 201, {"X-Low": "1"}, "{}")]
    http = client(waits, rules=Quirky())
    lookups: list[int] = []
    http.send("POST", server.url("/items"), json={}, recover=lambda: lookups.append(1))
    http.send("GET", server.url("/thing"))
    assert waits == [12.0, 3.0] and lookups == [] and server.methods() == ["POST", "POST", "GET"]


# -- lost responses -------------------------------------------------------------------------------
def test_lost_post_that_took_effect_is_recovered_not_resent(server: Loopback, waits: list[float]) -> None:
    server.script = [("drop", True)]
    http = client(waits)
    found = http.send("POST", server.url(), json={"name": "a"}, recover=lookup(http, server, "a"))
    assert found == {"id": 1, "name": "a"} and len(server.items) == 1
    assert server.methods() == ["POST", "GET"]  # looked up, never sent twice


def test_lost_post_that_did_not_take_effect_is_sent_again_after_the_lookup(
    server: Loopback, waits: list[float]
) -> None:
    server.script = [("drop", False)]
    http = client(waits)
    response = http.send("POST", server.url(), json={"name": "b"}, recover=lookup(http, server, "b"))
    assert response.status_code == 201 and server.methods() == ["POST", "GET", "POST"]
    assert server.items == [{"id": 1, "name": "b"}]


def test_lost_post_without_recover_is_outcome_unknown(server: Loopback, waits: list[float]) -> None:
    server.script = [("drop", True)]
    with pytest.raises(OutcomeUnknown) as info:
        client(waits).send("POST", server.url(f"/items?token={TOKEN}"), json={"name": "c"}, what="create c")
    err = info.value
    assert err.exit_code == 5 and isinstance(err, Unavailable) and server.methods() == ["POST"]
    assert "may have taken effect" in str(err) and "create c" in str(err) and TOKEN not in str(err)


def test_an_outcome_still_unknown_after_the_budget_is_not_resent(server: Loopback, waits: list[float]) -> None:
    server.script = [("drop", False)]
    asked: list[int] = []

    def recover() -> Any:
        asked.append(1)
        return UNKNOWN

    with pytest.raises(OutcomeUnknown):
        client(waits, attempts=3).send("POST", server.url(), json={"name": "d"}, recover=recover)
    assert server.methods() == ["POST"] and len(asked) == 3 and waits == [0.5, 1.0]


def test_a_5xx_on_post_runs_the_lookup_but_a_429_does_not(server: Loopback, waits: list[float]) -> None:
    server.script = [("reply", 429, {"Retry-After": "1"}, ""), ("reply", 500, {}, "oops")]
    http = client(waits)
    response = http.send("POST", server.url(), json={"name": "e"}, recover=lookup(http, server, "e"))
    assert response.status_code == 201 and server.methods() == ["POST", "POST", "GET", "POST"]
    assert server.items == [{"id": 1, "name": "e"}]


def test_read_timeout_on_post_counts_as_sent(server: Loopback, waits: list[float]) -> None:
    server.script = [("hang",)]
    with pytest.raises(requests.ReadTimeout) as info:
        requests.post(server.url(), json={}, timeout=(2.0, 0.2))
    assert never_sent(info.value) is False
    server.log.clear()
    server.script = [("hang",)]
    http = HttpClient(policy=RetryPolicy(sleep=waits.append), timeout=(2.0, 0.2))
    with pytest.raises(OutcomeUnknown) as lost:
        http.send("POST", server.url(), json={"name": "f"})
    assert "read timeout" in str(lost.value) and server.methods() == ["POST"]


def test_connection_refused_is_never_sent_and_a_post_is_retried(waits: list[float]) -> None:
    url = f"http://user:{TOKEN}@127.0.0.1:{closed_port()}/items?sig={TOKEN}"
    with pytest.raises(requests.ConnectionError) as info:
        requests.post(url, json={}, timeout=2)
    assert never_sent(info.value) is True
    http = client(waits, attempts=3)
    with pytest.raises(Unavailable) as err:
        http.send("POST", url, json={"name": "g"})  # no recover needed: nothing reached a server
    assert not isinstance(err.value, OutcomeUnknown) and http.calls == 3 and err.value.exit_code == 5
    assert "connection refused" in str(err.value)
    assert TOKEN not in str(err.value) and "user" not in str(err.value) and TOKEN not in (err.value.url or "")


def test_failed_tls_handshake_and_dns_failure_are_never_sent(server: Loopback) -> None:
    with pytest.raises(requests.exceptions.SSLError) as tls:  # TLS to a plain-HTTP server
        requests.post(server.url().replace("http://", "https://"), json={}, timeout=2)
    assert never_sent(tls.value) is True and server.log == []  # no HTTP request ever arrived
    with pytest.raises(requests.ConnectionError) as dns:
        requests.get("http://no-such-host.invalid/", timeout=2)
    assert never_sent(dns.value) is True


def test_a_reset_after_sending_is_not_never_sent(server: Loopback) -> None:
    server.script = [("drop", False)]
    with pytest.raises(requests.ConnectionError) as info:
        requests.post(server.url(), json={}, timeout=2)
    assert never_sent(info.value) is False


def test_a_stream_body_is_not_resent_but_a_body_factory_is(
    server: Loopback, waits: list[float], tmp_path: Path
) -> None:
    path = tmp_path / "item.json"
    path.write_text('{"name": "h"}')
    http = client(waits)
    server.script = [("drop", False)]
    with path.open("rb") as stream, pytest.raises(Unavailable) as info:
        http.send("POST", server.url(), data=stream, recover=lookup(http, server, "h"))
    assert not isinstance(info.value, OutcomeUnknown) and info.value.exit_code == 5
    assert "cannot be sent again" in str(info.value) and server.methods() == ["POST", "GET"]
    server.log.clear()
    server.script = [("drop", True)]
    with path.open("rb") as stream, pytest.raises(OutcomeUnknown):
        http.send("POST", server.url(), data=stream)
    assert server.methods() == ["POST"]
    server.log.clear()
    server.script = [("drop", False)]
    path.write_text('{"name": "i"}')
    response = http.send("POST", server.url(), data=lambda: path.open("rb"), recover=lookup(http, server, "i"))
    assert response.status_code == 201 and server.methods() == ["POST", "GET", "POST"]
    assert server.bodies[-1] == path.read_bytes()


def test_a_file_body_goes_out_sized_in_blocks_and_whole_again_after_a_lost_answer(
    server: Loopback, waits: list[float], tmp_path: Path
) -> None:
    from trainmaster.http_body import FileBody

    path = tmp_path / "item.json"
    path.write_bytes(b'{"name": "f"}' + b" " * 300_000)  # several blocks of 64 KiB
    body = FileBody(path, hashes=("sha256", "sha1"), chunk=1 << 16)
    http = client(waits)
    server.script = [("drop", False)]
    response = http.send("POST", server.url(), data=lambda: body, recover=lookup(http, server, "f"))
    assert response.status_code == 201 and server.methods() == ["POST", "GET", "POST"]
    assert server.bodies[-1] == path.read_bytes() and server.bodies[0] == path.read_bytes()
    assert server.headers[-1]["Content-Length"] == str(path.stat().st_size)
    assert "Transfer-Encoding" not in server.headers[-1]  # never chunked: the APIs need a Content-Length
    data = path.read_bytes()
    assert body.complete and body.digests == {"sha256": hashlib.sha256(data).hexdigest(),
                                              "sha1": hashlib.sha1(data).hexdigest()}


# -- pieces ---------------------------------------------------------------------------------------
def test_session_sends_the_user_agent_and_no_secret_in_errors(server: Loopback) -> None:
    session = new_session(headers={"Authorization": f"Bearer {TOKEN}"})
    http = HttpClient(session=session, policy=RetryPolicy(sleep=lambda _: None))
    server.script = [("reply", 401, {}, "bad credentials")]
    with pytest.raises(ApiError) as info:
        http.send("GET", server.url("/thing"))
    assert server.headers[0]["User-Agent"] == f"trainmaster/{__version__}"
    assert TOKEN not in repr(info.value.__dict__) and TOKEN not in str(info.value)


@pytest.mark.parametrize(
    ("value", "cap", "expected"),
    [("12", None, 12.0), ("12", 5.0, 5.0), ("-3", None, 0.0), ("soon", None, None), ("", None, None),
     (None, None, None), ("Wed, 21 Oct 2015 07:28:00 GMT", None, 0.0), ({"retry-after": "4"}, None, 4.0)],
)
def test_retry_after(value: Any, cap: float | None, expected: float | None) -> None:
    headers = requests.structures.CaseInsensitiveDict(value) if isinstance(value, dict) else value
    assert retry_after(headers, cap) == expected


def test_policy_delay_uses_full_jitter_capped_and_honours_the_server() -> None:
    policy = RetryPolicy(base=1.0, cap=8.0, max_wait=30.0, rand=lambda: 0.25)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert policy.delay(1, 12.0) == 12.0 and policy.delay(1, 3600.0) == 30.0
    assert RetryPolicy(rand=lambda: 0.0).delay(3) == 0.0


def test_safe_url_drops_user_info_and_secret_query_values() -> None:
    url = f"https://me:{TOKEN}@dev.example.com:8443/a/b?api_key={TOKEN}&signature=s&code=c&page=2#frag"
    assert safe_url(url) == "https://dev.example.com:8443/a/b?api_key=***&signature=***&code=***&page=2"


def test_importing_the_core_does_not_import_requests() -> None:
    code = "import sys, trainmaster.http; print('requests' in sys.modules, 'urllib3' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False False"
