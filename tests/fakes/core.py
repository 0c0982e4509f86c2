"""Shared machinery of the fakes: threaded loopback HTTP server, contract checking, call log,
violations, fault injection, the ``/_fake/`` admin API and the separate-process entry point.

The HTTP side (request handler, streaming body, command line) is in server.py. A service
(github.py, azure.py, octopus.py) subclasses :class:`FakeService`, registers handlers with
:func:`operation` and implements ``route``/``authenticate``/``error_body``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from .contract import Contract, ContractViolation, Match

ADMIN_PREFIX = "/_fake/"
CHUNK = 1 << 20


class ApiError(Exception):
    """A semantic error the real service answers with (404, 409, 422...). Not a violation."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.status, self.message, self.headers, self.extra = status, message, headers or {}, extra


@dataclass
class Response:
    status: int
    body: Any = None  # dict/list -> JSON, bytes -> raw, None -> empty
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """One request the fake received (``GET /_fake/calls`` returns these as JSON)."""

    method: str
    path: str
    operation_id: str | None
    query: dict[str, str]
    status: int | None
    time: float
    fault: str | None = None
    host: str | None = None


@dataclass
class Violation:
    method: str
    path: str
    status: int
    reason: str
    operation_id: str | None = None


@dataclass
class Fault:
    """An injected fault. ``kind``: status | delay | drop_upload | lose_response."""

    kind: str
    operation_id: str | None = None
    method: str | None = None
    path: str | None = None  # regular expression searched in the request path
    count: int = 1
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    seconds: float = 0.0
    after_bytes: int = 0

    def matches(self, method: str, path: str, operation_id: str | None) -> bool:
        if self.count <= 0:
            return False
        if self.operation_id and self.operation_id != operation_id:
            return False
        if self.method and self.method.upper() != method:
            return False
        return not (self.path and not re.search(self.path, path))


def operation(*operation_ids: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a handler method for one or more operationIds of the contract."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn._operation_ids = operation_ids  # type: ignore[attr-defined]
        return fn

    return deco


@dataclass
class Request:
    """What a handler receives. ``json`` is the validated body; ``body`` the raw stream."""

    method: str
    path: str  # path inside the contract (prefixes such as /uploads or /_vsrm removed)
    raw_path: str
    query: dict[str, str]
    headers: Any
    body: Any  # tests.fakes.server.Body: a stream, read with iteration/read()/read_all()
    host: str
    match: Match | None = None
    json: Any = None

    @property
    def params(self) -> dict[str, str]:
        return self.match.path_params if self.match else {}


class FakeService:
    """Base class for a fake. Subclasses set ``name`` and ``contracts`` and add handlers."""

    name = "fake"
    case_insensitive_props = False

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.calls: list[Call] = []
        self.violations: list[Violation] = []
        self.response_problems: list[str] = []  # answers that do not fit the description's response schema
        self.faults: list[Fault] = []
        self._expect_violations = False
        self.url = ""
        self._stop = threading.Event()
        self.handlers: dict[str, Callable[[Request], Response]] = {}
        for attr in dir(type(self)):
            fn = getattr(type(self), attr)
            for op_id in getattr(fn, "_operation_ids", ()):
                self.handlers[op_id] = getattr(self, attr)

    # -- hooks for services ------------------------------------------------------------------
    def contracts_for(self, host: str) -> list[Contract]:
        raise NotImplementedError

    def route(self, path: str) -> tuple[str, str]:
        """Map a raw request path to (host tag, contract path)."""
        return "api", path

    def authenticate(self, req: Request) -> Response | None:
        return None

    def discovery(self, req: Request) -> Response | None:
        """Answer an allow-listed discovery call (documented in tests/contracts/README.md)."""
        return None

    def error_body(self, status: int, message: str, **extra: Any) -> Any:
        return {"message": message}

    def implicit_query(self, req: Request) -> frozenset[str]:
        return frozenset()

    def fault_status_headers(self, fault: Fault) -> dict[str, str]:
        return dict(fault.headers)

    # -- public test API ---------------------------------------------------------------------
    def inject(
        self,
        kind: str = "status",
        *,
        operation_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        count: int = 1,
        status: int = 503,
        headers: dict[str, str] | None = None,
        body: Any = None,
        seconds: float = 0.0,
        after_bytes: int = 0,
    ) -> Fault:
        """Add a fault for the next ``count`` requests matching operation_id / method / path regex.

        kinds: ``status`` (answer ``status`` with ``headers``; nothing changes), ``delay`` (sleep
        ``seconds`` then answer normally), ``drop_upload`` (read ``after_bytes`` of the body, then close
        the socket), ``lose_response`` (apply the request, then close the socket without answering).
        """
        f = Fault(kind, operation_id, method, path, count, status, dict(headers or {}), body, seconds, after_bytes)
        with self.lock:
            self.faults.append(f)
        return f

    def fail(self, status: int = 503, *, count: int = 1, **match: Any) -> Fault:
        """Answer ``count`` matching requests with a plain ``status`` (500, 502, 503...)."""
        return self.inject("status", status=status, count=count, **match)

    def throttle(self, *, count: int = 1, retry_after: int = 1, **match: Any) -> Fault:
        """Answer ``count`` matching requests with 429 and ``Retry-After: retry_after``."""
        return self.inject("status", status=429, count=count, headers={"Retry-After": str(retry_after)}, **match)

    def slow(self, seconds: float, *, count: int = 1, **match: Any) -> Fault:
        """Delay the answer to ``count`` matching requests by ``seconds`` (longer than a client timeout)."""
        return self.inject("delay", seconds=seconds, count=count, **match)

    def drop_upload(self, after_bytes: int = 1024, *, count: int = 1, **match: Any) -> Fault:
        """Read ``after_bytes`` of the request body, then drop the connection without an answer."""
        return self.inject("drop_upload", after_bytes=after_bytes, count=count, **match)

    def lose_response(self, *, count: int = 1, **match: Any) -> Fault:
        """Apply the request (state changes), then close the connection without answering."""
        return self.inject("lose_response", count=count, **match)

    def expect_violations(self) -> None:
        """Opt out of the teardown check for a test that deliberately sends invalid requests."""
        self._expect_violations = True

    def calls_to(self, operation_id: str, status: int | None = None) -> list[Call]:
        """The recorded calls to one operationId (optionally only those answered with ``status``)."""
        with self.lock:
            return [c for c in self.calls if c.operation_id == operation_id and (status is None or c.status == status)]

    def count(self, operation_id: str, status: int | None = None) -> int:
        return len(self.calls_to(operation_id, status))

    def reset_log(self) -> None:
        with self.lock:
            self.calls.clear()
            self.violations.clear()

    # -- request pipeline --------------------------------------------------------------------
    def _take_fault(self, method: str, path: str, op_id: str | None, kinds: tuple[str, ...]) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.kind in kinds and f.matches(method, path, op_id):
                    f.count -= 1
                    return f
        return None

    def _record_violation(self, req: Request, status: int, reason: str, op_id: str | None) -> None:
        with self.lock:
            self.violations.append(Violation(req.method, req.raw_path, status, reason, op_id))

    def handle(self, req: Request, call: Call) -> Response | str:
        """Run one request; returns a Response or the string 'drop' (close without answering)."""
        disc = self.discovery(req)
        if disc is not None:
            call.operation_id = "discovery"
            return disc
        try:
            match = None
            errors: list[ContractViolation] = []
            for contract in self.contracts_for(req.host):
                try:
                    match = contract.match_path(req.method, req.path, req.query)
                    break
                except ContractViolation as e:
                    errors.append(e)
            if match is None:
                raise (min(errors, key=lambda e: -e.status) if errors else ContractViolation(404, "unknown host"))
            match.path_params = {k: unquote(v) for k, v in match.path_params.items()}
            req.match = match
            call.operation_id = match.operation.operation_id
        except ContractViolation as e:
            return self._violation(req, e)
        auth = self.authenticate(req)
        if auth is not None:
            return auth
        fault = self._take_fault(req.method, req.raw_path, call.operation_id, ("status", "drop_upload", "delay"))
        if fault is not None:
            call.fault = fault.kind
            if fault.kind == "status":
                req.body.drain()
                body = fault.body if fault.body is not None else self.error_body(fault.status, "injected fault")
                return Response(fault.status, body, self.fault_status_headers(fault))
            if fault.kind == "drop_upload":
                while req.body.bytes_read < fault.after_bytes and req.body.read(
                    min(CHUNK, fault.after_bytes - req.body.bytes_read)
                ):
                    pass
                return "drop"
            if fault.kind == "delay":
                self._stop.wait(fault.seconds)
        contract = next(c for c in self.contracts_for(req.host) if match.operation.operation_id in c.by_id)
        try:
            contract.check_params(match, req.query, implicit=self.implicit_query(req))
            if not _is_streamed(match):
                raw = req.body.read_all()
                if raw.strip():
                    try:
                        parsed = json.loads(raw)
                    except ValueError as e:
                        raise ContractViolation(400, f"{call.operation_id}: body is not JSON: {e}") from e
                    req.json = contract.check_body(
                        match, parsed, present=True, case_insensitive_props=self.case_insensitive_props
                    )
                else:
                    contract.check_body(match, None, present=False)
            self.check_semantics(req)
        except ApiError as e:
            return Response(e.status, self.error_body(e.status, e.message, **e.extra), e.headers)
        except ContractViolation as e:
            if e.operation_id is None:
                e.operation_id = call.operation_id
            return self._violation(req, e)
        handler = self.handlers.get(match.operation.operation_id)
        if handler is None:
            return Response(501, self.error_body(501, f"the fake does not implement {call.operation_id}"))
        try:
            if _is_streamed(match):  # uploads stream without holding the lock; handlers lock state
                resp = handler(req)
            else:
                with self.lock:
                    resp = handler(req)
        except ApiError as e:
            resp = Response(e.status, self.error_body(e.status, e.message, **e.extra), e.headers)
        self._check_response(contract, match.operation.operation_id, resp)
        if self._take_fault(req.method, req.raw_path, call.operation_id, ("lose_response",)):
            call.fault = "lose_response"
            return "drop"
        return resp

    def _check_response(self, contract: Any, op_id: str, resp: Response) -> None:
        """Record a 2xx JSON answer that does not fit the operation's response schema."""
        if not 200 <= resp.status < 300 or not isinstance(resp.body, (dict, list)):
            return
        key = (id(contract), op_id, resp.status)
        cache = self.__dict__.setdefault("_response_validators", {})
        if key not in cache:
            cache[key] = contract.response_validator(op_id, str(resp.status))
        validator = cache[key]
        if validator is None:
            return
        for error in validator.iter_errors(resp.body):
            while error.context:  # anyOf/allOf: name the innermost reason
                error = max(error.context, key=lambda e: len(e.absolute_path))
            if self.known_response_gap(op_id, error):
                continue
            where = "/".join(str(p) for p in error.absolute_path)
            with self.lock:
                self.response_problems.append(f"{op_id} {resp.status} at /{where}: {error.message[:200]}")

    def known_response_gap(self, op_id: str, error: Any) -> bool:
        """A value the real service sends that its description does not list (documented per fake)."""
        return False

    def check_semantics(self, req: Request) -> None:
        """Extra checks the description cannot express (raise ContractViolation)."""

    def _violation(self, req: Request, e: ContractViolation) -> Response:
        self._record_violation(req, e.status, e.message, e.operation_id)
        return Response(e.status, self.error_body(e.status, e.message))

    # -- admin API (separate-process mode) ---------------------------------------------------
    DRIVERS: tuple[str, ...] = ()

    def admin(self, method: str, path: str, body: Any) -> Response:
        name = path[len(ADMIN_PREFIX) :].strip("/")
        with self.lock:
            if name == "violations":
                return Response(200, [asdict(v) for v in self.violations])
            if name == "calls":
                return Response(200, [asdict(c) for c in self.calls])
            if name == "reset" and method == "POST":
                self.reset_log()
                return Response(204)
            if name == "faults" and method == "POST":
                f = self.inject(**(body or {}))
                return Response(201, asdict(f))
            if name == "faults" and method == "GET":
                return Response(200, [asdict(f) for f in self.faults])
            if name.startswith("drive/") and method == "POST":
                driver = name[len("drive/") :]
                if driver not in self.DRIVERS:
                    return Response(404, {"message": f"unknown driver {driver}; known: {list(self.DRIVERS)}"})
                return Response(200, {"result": _jsonable(getattr(self, driver)(**(body or {})))})
        extra = self.admin_extra(method, name)
        return extra or Response(404, {"message": f"unknown admin endpoint {path}"})

    def admin_extra(self, method: str, name: str) -> Response | None:
        return None

    def admin_download(self, path: str) -> Response | None:
        return None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, port: int = 0) -> FakeService:
        """Start serving on 127.0.0.1:port (0 = free port) in a daemon thread; sets ``self.url``."""
        from .server import RequestHandler

        service = self

        class Handler(RequestHandler):
            fake = service

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.on_start()
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-fake",
            daemon=True,
        )
        self._thread.start()
        return self

    def on_start(self) -> None:
        self.url = self.origin

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeService:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _is_streamed(match: Match) -> bool:
    cts = match.operation.content_types
    return bool(cts) and not any("json" in c for c in cts)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)
