"""The exception tree: every expected failure is a typed error with an exit code.

One place (:func:`trainmaster.cli.main`) turns a :class:`TrainmasterError` into a
single message on stderr and its exit code. Nothing else prints tracebacks.

Exit codes (DESIGN.md):

====  ==========================================================================
0     done, skips included
1     a deployment ran and failed (any configured rollback was attempted)
2     invalid input or configuration, found before anything was written
3     refused by the train or a gate, or waiting on a remote approval
4     integrity violation: conflict, digest mismatch, broken audit chain, drift
5     a remote system stayed unavailable or timed out after retries
====  ==========================================================================
"""

from __future__ import annotations

import re
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_REFUSED = 3
EXIT_INTEGRITY = 4
EXIT_UNAVAILABLE = 5


class TrainmasterError(Exception):
    """Root of every expected error. ``str(err)`` is the message shown to the user."""

    exit_code = EXIT_INVALID


class InvalidInput(TrainmasterError):
    """Bad arguments or input, found before anything was written (exit 2)."""

    exit_code = EXIT_INVALID


class ConfigError(InvalidInput):
    """A configuration problem, located in its file (exit 2).

    :param message: what is wrong and what was expected.
    :param file: the config file's path, as the user gave it.
    :param line: 1-based line, or ``None`` when the problem has no single place.
    :param column: 1-based column.
    :param key: the offending key, when there is one.
    :param suggestion: the closest valid key, when a key was mistyped.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        key: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.suggestion = suggestion
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        text = f"{where}{self.message}"
        if self.suggestion and "did you mean" not in self.message:
            text += f" — did you mean '{self.suggestion}'?"
        return text


class ConfigErrors(ConfigError):
    """Several configuration problems found in one pass (exit 2), at most :data:`MAX_CONFIG_ERRORS`.

    The error itself carries the first problem's message and location (what a single
    :class:`ConfigError` would have said), ``errors`` all of them in file order of
    discovery, ``more`` how many were left out after the limit.
    """

    def __init__(self, errors: list[ConfigError], more: int = 0) -> None:
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line, column=first.column,
                         key=first.key, suggestion=first.suggestion)
        self.errors = list(errors)
        self.more = more

    def lines(self) -> list[str]:
        """One line per problem, then ``… and N more`` when some were left out."""
        return [str(error) for error in self.errors] + ([f"… and {self.more} more"] if self.more else [])


def did_you_mean(name: str, names: list[str], listed: str) -> str:
    """The hint after "unknown … ``name``": the closest of ``names``, else all of them (``listed: a, b``)."""
    import difflib

    close = difflib.get_close_matches(name, names, n=1)
    return f" — did you mean '{close[0]}'?" if close else f" ({listed}: {', '.join(names) or 'none'})"


MAX_CONFIG_ERRORS = 20
"""The most configuration problems reported at once."""


def config_errors(errors: list[ConfigError]) -> ConfigError:
    """The error to raise for ``errors`` (not empty): the only one, or :class:`ConfigErrors` of the first 20.

    Repeats (the same message at the same place) are dropped.
    """
    unique: list[ConfigError] = []
    seen: set[tuple[object, ...]] = set()
    flat = [inner for error in errors for inner in (error.errors if isinstance(error, ConfigErrors) else [error])]
    for error in flat:
        fingerprint = (error.message, error.file, error.line, error.column)
        if fingerprint not in seen:
            seen.add(fingerprint)
            unique.append(error)
    if len(unique) == 1:
        return unique[0]
    return ConfigErrors(unique[:MAX_CONFIG_ERRORS], max(0, len(unique) - MAX_CONFIG_ERRORS))


def problem_json(error: BaseException) -> dict[str, Any]:
    """One problem for ``--json``: ``message``, ``file``, ``line``, ``column``, ``key``, ``suggestion``."""
    message = getattr(error, "message", None) or str(error)
    body: dict[str, Any] = {"message": message}
    for name in ("file", "line", "column", "key", "suggestion"):
        body[name] = getattr(error, name, None)
    return body


def problems(error: BaseException) -> tuple[list[dict[str, Any]], int]:
    """Every problem an error stands for (several for :class:`ConfigErrors`), and how many were left out."""
    if isinstance(error, ConfigErrors):
        return [problem_json(e) for e in error.errors], error.more
    return [problem_json(error)], 0


class Refused(TrainmasterError):
    """The train or a gate refused; nothing ran. A re-run continues (exit 3)."""

    exit_code = EXIT_REFUSED


class IntegrityError(TrainmasterError):
    """Conflict, digest mismatch, broken audit chain or remote drift (exit 4)."""

    exit_code = EXIT_INTEGRITY


class ReleaseConflict(IntegrityError):
    """The same version already exists with a different release id."""


class DigestMismatch(IntegrityError):
    """Stored or downloaded bytes do not hash to the pinned digest."""


class DeploymentFailed(TrainmasterError):
    """A deployment ran and failed; rollback (if configured) was attempted (exit 1).

    ``deployment`` and ``rollback`` are the ledger rows, for ``--json`` output.
    """

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, deployment: Any = None, rollback: Any = None) -> None:
        super().__init__(message)
        self.deployment = deployment
        self.rollback = rollback


class _HttpDetails:
    """What :mod:`trainmaster.http` knows about a failed call, for ``--json`` output and support tickets.

    Every field is ``None`` when unknown. ``url`` never carries user info or secret query values,
    ``body_excerpt`` never a credential.
    """

    status_code: int | None = None
    request_id: str | None = None
    method: str | None = None
    url: str | None = None
    body_excerpt: str | None = None

    def _set_details(self, details: dict[str, Any]) -> None:
        for name, value in details.items():
            if name not in _DETAIL_NAMES:
                raise TypeError(f"unexpected detail {name!r}")
            if value is not None:  # a subclass may have set it before calling up
                setattr(self, name, value)


_DETAIL_NAMES = frozenset({"status_code", "request_id", "method", "url", "body_excerpt"})


class Unavailable(_HttpDetails, TrainmasterError):
    """A remote system stayed unavailable or timed out after retries (exit 5).

    :param message: what failed and what to do (usually: a re-run is safe).
    :param details: optional ``status_code``, ``request_id``, ``method``, ``url`` (secret-free)
        and ``body_excerpt`` of the last answer, as on :class:`ApiError`.
    """

    exit_code = EXIT_UNAVAILABLE

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message)
        self._set_details(details)


class OutcomeUnknown(Unavailable):
    """A call that is not safe to repeat was sent, its answer was lost, and no lookup settled
    whether it took effect (exit 5). The message says what to check; nothing was sent twice."""


class ApiError(_HttpDetails, TrainmasterError):
    """An HTTP API answered with an error that retrying will not fix.

    Adapters raise it (or a subclass) from their single HTTP choke point
    (:class:`trainmaster.http.Rules.error`).

    :param message: a one-line explanation naming what to fix.
    :param status_code: the HTTP status.
    :param request_id: the service's request/activity id, for support tickets.
    :param body_excerpt: the start of the response body (never a credential).
    :param method: the HTTP method of the failed call.
    :param url: the call's URL without user info or secret query values.
    """

    exit_code = EXIT_INVALID

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        body_excerpt: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        self.body_excerpt = body_excerpt
        self.method = method
        self.url = url
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.status_code}: {self.message}" if self.status_code else self.message
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text


class PluginError(TrainmasterError):
    """A plugin is missing, failed to load, or needs an extra that is not installed."""

    exit_code = EXIT_INVALID


_OS_CAUSES: dict[str, tuple[str, str]] = {
    "ENOSPC": ("no space left on the device", "free some space and run the command again"),
    "EDQUOT": ("the disk quota is exceeded", "free some space and run the command again"),
    "EROFS": ("the file system is read-only", "use a writable state_dir, or mount it read-write"),
    "EACCES": ("permission denied", "make it writable for this user, or use another state_dir"),
    "EPERM": ("operation not permitted", "make it writable for this user (chattr -i?), or use another state_dir"),
}


def machine_refused(exc: BaseException) -> bool:
    """Whether ``exc`` is the machine refusing (full, read-only, no permission): see :func:`from_os_error`."""
    import errno as errnos

    return isinstance(exc, OSError) and errnos.errorcode.get(exc.errno or 0, "") in _OS_CAUSES


def from_os_error(exc: OSError, where: object = None) -> TrainmasterError:
    """An operating system error as one message saying what went wrong and where.

    A full disk, a read-only or immutable folder or missing permissions are the machine's
    state, not corruption (exit 5): the user frees space or fixes the mount, and nothing
    needs restoring. Any other cause (a path that is a file, not a folder …) is exit 2.
    """
    import errno as errnos

    place = where if where is not None else exc.filename
    name = errnos.errorcode.get(exc.errno or 0, "")
    if name not in _OS_CAUSES:
        cause = exc.strerror or str(exc)
        return InvalidInput(f"cannot use {place}: {cause}" if place else cause)
    cause, hint = _OS_CAUSES[name]
    return Unavailable(f"cannot write or read {place}: {cause}; {hint}" if place else f"{cause}; {hint}")


def error_json(exc: BaseException, exit_code: int) -> dict[str, Any]:
    """The ``{"error": {...}}`` object a command prints on stdout with ``--json`` when it fails.

    ``kind`` is the error's class in snake case (``config_error``, ``refused``, ``release_conflict``…);
    the location fields are null unless the error has them (a config error); ``pending`` lists the
    gates a refused deployment still waits for; ``errors`` (and ``more``, how many were left out)
    every problem of a config found to have several.
    """
    kind = re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()
    formatted = getattr(exc, "format_message", None)  # click's usage errors name the option there
    message = formatted() if callable(formatted) else getattr(exc, "message", None) or str(exc)
    body: dict[str, Any] = {"exit_code": exit_code, "kind": kind, "message": message}
    for name in ("file", "line", "column", "key", "suggestion"):
        body[name] = getattr(exc, name, None)
    if isinstance(exc, ConfigErrors):
        body["errors"], body["more"] = problems(exc)
    pending = getattr(exc, "pending", None)
    if pending:
        body["pending"] = list(pending)
    return {"error": body}

