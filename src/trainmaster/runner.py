"""Run shell commands for the ``local`` target: clean environment, live masked output.

:func:`run_command` runs one command through the platform shell in its own process
group, streams its merged stdout and stderr live through a
:class:`~trainmaster.masking.MaskingStream`, and kills the whole group on timeout.
:func:`run_monitor` repeats a check over a period, as post-deploy monitoring.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainmaster.masking import Masker, MaskingStream

if TYPE_CHECKING:
    import queue
    import subprocess
    import threading

BASE_ENV_NAMES: tuple[str, ...] = tuple(
    "PATH HOME LANG LC_ALL LC_CTYPE TZ TMPDIR TEMP TMP USER LOGNAME SHELL"
    " SYSTEMROOT COMSPEC PATHEXT WINDIR".split()
)
"""The runner's variables every command receives, when they are set."""

EXCERPT_CHARS = 4096
"""How much of the end of a command's masked output :attr:`CommandResult.excerpt` keeps."""

KILL_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL when a command's process group is stopped."""

_POLL = 0.05


@dataclass(frozen=True)
class CommandResult:
    """The outcome of one command.

    :param returncode: the shell's exit status; ``None`` when it was killed on
        timeout or could not be started (negative: killed by that signal).
    :param timed_out: the command did not finish within its timeout.
    :param duration: wall-clock seconds from start to the end of its output.
    :param excerpt: the last :data:`EXCERPT_CHARS` characters of masked output.
    :param error: why the command could not be started, if it could not.
    """

    returncode: int | None
    timed_out: bool
    duration: float
    excerpt: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the command finished in time with exit status 0."""
        return self.returncode == 0 and not self.timed_out and self.error is None


def clean_environment(
    source: Mapping[str, str],
    pass_env: Iterable[str],
    variables: Mapping[str, str],
    trainmaster: Mapping[str, str],
) -> dict[str, str]:
    """Build the environment of a command, and nothing else.

    It is the base (:data:`BASE_ENV_NAMES`) and the ``pass_env`` names, both taken
    from ``source`` when present there, then ``variables``, then ``trainmaster``
    (the ``TRAINMASTER_*`` values); later ones win.

    :param source: the runner's environment, usually ``os.environ``.
    :param pass_env: names to pass through from ``source``.
    :param variables: the environment's resolved variables, secrets included.
    :param trainmaster: the ``TRAINMASTER_*`` variables.
    """
    env: dict[str, str] = {}
    for name in (*BASE_ENV_NAMES, *pass_env):
        if name in source:
            env[name] = source[name]
    env.update(variables)
    env.update(trainmaster)
    return env


def _prefixed(write: Callable[[str], None], label: str) -> Callable[[str], None]:
    """Wrap ``write`` so that each line written through it starts with ``label``."""
    at_line_start = True

    def emit(text: str) -> None:
        nonlocal at_line_start
        if not text:
            return
        body = ((label if at_line_start else "") + text).replace("\n", "\n" + label)
        at_line_start = text.endswith("\n")
        write(body[: len(body) - len(label)] if at_line_start else body)

    return emit if label else write


def _spawn(command: str, env: Mapping[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    import subprocess

    options: dict[str, Any] = {
        "env": dict(env), "cwd": cwd, "stdin": subprocess.DEVNULL,
        "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT,
    }  # fmt: skip
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        shell = os.environ.get("COMSPEC", "cmd.exe")
        flags = subprocess.CREATE_NEW_PROCESS_GROUP
        return subprocess.Popen(f'"{shell}" /d /s /c "{command}"', creationflags=flags, **options)
    return subprocess.Popen(["/bin/sh", "-c", command], start_new_session=True, **options)


def _signal_group(proc: subprocess.Popen[bytes], hard: bool) -> None:
    """Send SIGTERM (or SIGKILL when ``hard``) to the command's whole process group."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import subprocess

        subprocess.run(["taskkill", "/T", "/F", "/PID", str(proc.pid)], capture_output=True)
        return
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL if hard else signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass


def _hold_interrupts() -> dict[int, Any]:
    """Hold SIGINT and SIGTERM (Ctrl-C, CI cancellation) while a command starts.

    Raised between the fork and the code that stops the command, the interrupt would leave
    the command running with nobody to stop it. Main thread only (elsewhere nothing is held).
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    caught: list[int] = []
    held: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        if previous is None:  # a handler not installed from Python: leave it alone
            continue
        held[signum] = previous
        signal.signal(signum, lambda number, _frame: caught.append(number))
    held[0] = caught
    return held


def _release_interrupts(held: dict[int, Any], proc: subprocess.Popen[bytes] | None = None) -> None:
    """Put the handlers back; an interrupt that came meanwhile first stops ``proc``'s group, then is raised."""
    import signal

    caught: list[int] = held.pop(0, [])
    handlers = list(held.items())
    held.clear()  # released once, whichever path gets here first
    for signum, handler in handlers:
        signal.signal(signum, handler)
    if caught:
        if proc is not None:
            _signal_group(proc, hard=True)
        signal.raise_signal(caught[0])


def _start_reader(proc: subprocess.Popen[bytes]) -> tuple[threading.Thread, queue.Queue[bytes]]:
    """A daemon thread that queues the command's output chunks (``b""`` at the end)."""
    import queue  # noqa: F811 - at run time, not only for the annotations
    import threading  # noqa: F811

    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    chunks: queue.Queue[bytes] = queue.Queue()

    def reader() -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            chunks.put(data)
            if not data:
                return

    thread = threading.Thread(target=reader, name=f"trainmaster-output-{proc.pid}", daemon=True)
    thread.start()
    return thread, chunks


def run_command(
    command: str,
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float | None,
    masker: Masker,
    out: Callable[[str], None],
    label: str = "",
    linger: float = 2.0,
    on_spawn: Callable[[int], None] | None = None,
) -> CommandResult:
    """Run ``command`` through the platform shell and stream its output, masked.

    The command runs with exactly ``env`` (see :func:`clean_environment`), in a new
    session and process group, stdin closed, stdout and stderr merged. Output is read
    as it comes and passed to ``out`` through a :class:`MaskingStream`, each line
    prefixed with ``label`` when one is given (for example ``"[deploy] "``).

    On timeout the whole process group gets SIGTERM, then SIGKILL after
    :data:`KILL_GRACE` seconds. When the shell exits but background processes it
    started still hold the output open, they are given ``linger`` seconds (or what is
    left of the timeout) to finish, then their group is stopped the same way, so
    the call never hangs on them. The shell's own exit status is the result.

    ``on_spawn(pid)`` is called once the command runs; its pid is also its process
    group id, which the deploying process records so that a later run can stop
    commands orphaned by a deployer that was killed.

    :returns: a :class:`CommandResult`; a command that cannot be started gives
        ``returncode=None`` and ``error``, and its reason is written to ``out``.
    """
    import codecs
    import queue

    prefixer = _prefixed(out, label)
    tail = [""]

    def sink(text: str) -> None:
        tail[0] = (tail[0] + text)[-EXCERPT_CHARS:]
        prefixer(text)

    stream = MaskingStream(sink, masker)
    started = time.monotonic()
    held = _hold_interrupts()  # until the code that stops the command on an interrupt is in place
    try:
        proc = _spawn(command, env, cwd)
    except BaseException as exc:
        _release_interrupts(held)
        if not isinstance(exc, OSError):
            raise
        message = masker.mask(f"cannot run command: {exc.strerror or exc}")
        sink(message + "\n")
        return CommandResult(None, False, time.monotonic() - started, tail[0], message)
    try:
        if on_spawn is not None:
            on_spawn(proc.pid)
        thread, chunks = _start_reader(proc)
    except BaseException:
        _release_interrupts(held)
        _signal_group(proc, hard=True)
        raise
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def pump(wait: float | None) -> bool:
        """Pass on one chunk of output, waiting up to ``wait``; True at end of output."""
        try:
            data = chunks.get(timeout=wait) if wait else chunks.get_nowait()
        except queue.Empty:
            return False
        stream.feed(decoder.decode(data))
        return not data

    deadline = None if timeout is None else started + timeout
    exited_at: float | None = None
    term_at: float | None = None
    kill_at: float | None = None
    timed_out = eof = False
    try:
        _release_interrupts(held, proc)  # one that came while the command started is raised here
        while not eof or proc.poll() is None:
            now = time.monotonic()
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            over_time = deadline is not None and now >= deadline
            lingered = exited_at is not None and now - exited_at >= linger
            if term_at is None and (over_time or lingered):
                timed_out = exited_at is None
                _signal_group(proc, hard=False)
                term_at = now
            elif term_at is not None and kill_at is None and now - term_at >= KILL_GRACE:
                _signal_group(proc, hard=True)
                kill_at = now
            elif kill_at is not None and now - kill_at >= KILL_GRACE and proc.poll() is not None:
                break  # a process outside the group still holds the pipe: stop reading
            if eof:
                time.sleep(_POLL)
            else:
                eof = pump(_POLL)
        while not eof and not chunks.empty():  # what was read before we stopped waiting
            eof = pump(None)
        if term_at is not None and kill_at is None:
            _signal_group(proc, hard=True)  # leave no stragglers in the group
        stream.feed(decoder.decode(b"", final=True))
        stream.close()
    except BaseException:  # Ctrl-C or a failing sink: the command must not outlive us
        _signal_group(proc, hard=True)
        raise
    if eof:  # else the reader thread may still use the descriptor: leave it open
        thread.join()
        if proc.stdout is not None:
            proc.stdout.close()
    returncode = None if timed_out else proc.returncode
    return CommandResult(returncode, timed_out, time.monotonic() - started, tail[0])


def run_monitor(
    command: str,
    *,
    every: float,
    for_: float,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float | None,
    masker: Masker,
    out: Callable[[str], None],
    label: str = "monitor",
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_spawn: Callable[[int], None] | None = None,
) -> CommandResult:
    """Run a check now, then every ``every`` seconds until ``for_`` seconds have passed.

    Stops at the first failing check and returns its result; otherwise returns the
    last success. A progress line such as ``monitor check 3/12 ok`` is written to
    ``out`` after each check, and the check's own output is prefixed ``[label] ``.

    :param every: seconds between the starts of two checks (> 0).
    :param for_: the monitoring period in seconds (>= 0); ``0`` means one check.
    :param timeout: the timeout of each check.
    :param clock: the monotonic clock, injectable for tests.
    :param sleep: the sleep function, injectable for tests.
    """
    if every <= 0:
        raise ValueError("monitor interval 'every' must be positive")
    if for_ < 0:
        raise ValueError("monitor period 'for' must not be negative")
    total = int(for_ / every + 1e-9) + 1
    prefix = f"[{label}] " if label else ""
    name = label or "monitor"
    start = clock()
    result: CommandResult | None = None
    for index in range(total):
        due = start + index * every
        now = clock()
        if index and now - start > for_:
            break
        if due > now:
            sleep(due - now)
        result = run_command(command, env=env, cwd=cwd, timeout=timeout, masker=masker, out=out, label=prefix,
                             on_spawn=on_spawn)
        if result.ok:
            out(f"{name} check {index + 1}/{total} ok\n")
            continue
        why = "timed out" if result.timed_out else f"failed (exit {result.returncode})"
        out(f"{name} check {index + 1}/{total} {why}\n")
        return result
    assert result is not None
    return result
