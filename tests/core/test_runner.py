"""The local runner: real shells, real process groups, real pipes."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from trainmaster.masking import Masker
from trainmaster.runner import (
    BASE_ENV_NAMES,
    CommandResult,
    clean_environment,
    run_command,
    run_monitor,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell commands")


class Sink:
    """Collects output with the time each piece arrived."""

    def __init__(self) -> None:
        self.pieces: list[tuple[float, str]] = []
        self.lock = threading.Lock()

    def __call__(self, text: str) -> None:
        with self.lock:
            self.pieces.append((time.monotonic(), text))

    @property
    def text(self) -> str:
        return "".join(piece for _, piece in self.pieces)


def _env(**extra: str) -> dict[str, str]:
    return clean_environment(os.environ, [], extra, {})


def _run(
    command: str,
    tmp_path: Path,
    *,
    secrets: tuple[str, ...] = (),
    timeout: float | None = 10,
    env: dict[str, str] | None = None,
    label: str = "",
    linger: float = 2.0,
) -> tuple[CommandResult, Sink]:
    sink = Sink()
    result = run_command(
        command,
        env=env if env is not None else _env(),
        cwd=tmp_path,
        timeout=timeout,
        masker=Masker(secrets),
        out=sink,
        label=label,
        linger=linger,
    )
    return result, sink


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie left for an absent init to reap is dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def test_clean_environment_layers_and_filters() -> None:
    source = {"PATH": "/bin", "HOME": "/h", "GITHUB_TOKEN": "t", "DEST": "/d", "OTHER_SECRET": "s"}
    env = clean_environment(
        source,
        ["DEST", "ABSENT"],
        {"GREETING": "hi", "HOME": "/v"},
        {"TRAINMASTER_VERSION": "1.0.0", "GREETING": "tm"},
    )
    assert env == {
        "PATH": "/bin",
        "HOME": "/v",
        "DEST": "/d",
        "GREETING": "tm",
        "TRAINMASTER_VERSION": "1.0.0",
    }
    assert "LANG" in BASE_ENV_NAMES and "SYSTEMROOT" in BASE_ENV_NAMES


def test_child_sees_only_the_clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TM_TEST_SENTINEL", "leaked-value")
    monkeypatch.setenv("TM_TEST_PASSED", "passed-value")
    env = clean_environment(
        os.environ, ["TM_TEST_PASSED"], {"GREETING": "hello"}, {"TRAINMASTER_ENVIRONMENT": "dev"}
    )
    result, sink = _run("env", tmp_path, env=env)
    assert result.ok
    names = {line.split("=", 1)[0] for line in sink.text.splitlines() if "=" in line}
    assert "TM_TEST_SENTINEL" not in names and "leaked-value" not in sink.text
    assert "TM_TEST_PASSED=passed-value" in sink.text
    assert "GREETING=hello" in sink.text and "TRAINMASTER_ENVIRONMENT=dev" in sink.text
    assert names <= set(env) | {"PWD", "SHLVL", "_", "OLDPWD"}


def test_exit_status_cwd_and_merged_stderr(tmp_path: Path) -> None:
    result, sink = _run("pwd; echo oops >&2; exit 3", tmp_path)
    assert (result.returncode, result.timed_out, result.ok) == (3, False, False)
    assert sink.text == f"{tmp_path.resolve()}\noops\n"
    assert result.excerpt == sink.text


def test_label_prefixes_every_line(tmp_path: Path) -> None:
    _, sink = _run("printf 'one\\ntw'; sleep 0.1; printf 'o\\nthree\\n'", tmp_path, label="[deploy] ")
    assert sink.text == "[deploy] one\n[deploy] two\n[deploy] three\n"


def test_output_streams_before_the_process_exits(tmp_path: Path) -> None:
    started = time.monotonic()
    result, sink = _run("echo first; sleep 0.6; echo second", tmp_path)
    first_at = next(at for at, text in sink.pieces if "first" in text)
    assert result.ok and result.duration >= 0.6
    assert first_at - started < 0.5, "first line was not delivered while the command ran"


def test_secret_split_across_chunks_never_reaches_out(tmp_path: Path) -> None:
    result, sink = _run("printf 'x abc'; sleep 0.3; printf 'def y\\n'", tmp_path, secrets=("abcdef",))
    assert result.ok
    assert sink.text == "x *** y\n"
    assert all("abc" not in text and "def" not in text for _, text in sink.pieces)
    assert "abcdef" not in result.excerpt


def test_multiline_secret_masked_in_output(tmp_path: Path) -> None:
    secret = "first-line-of-key\nsecond-line-of-key"
    env = _env(KEY=secret)
    result, sink = _run('echo "$KEY"; echo "$KEY" | tail -n 1', tmp_path, env=env, secrets=(secret,))
    assert result.ok
    assert sink.text == "***\n***\n"


def test_utf8_split_across_reads_is_not_garbled(tmp_path: Path) -> None:
    result, sink = _run(
        r"printf '\303'; sleep 0.2; printf '\251t\342\202'; sleep 0.2; printf '\254\n'", tmp_path
    )
    assert result.ok and sink.text == "ét€\n"


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    started = time.monotonic()
    result, _ = _run(f"sleep 30 & echo $! > {pidfile}; sleep 30", tmp_path, timeout=0.5)
    assert time.monotonic() - started < 5
    assert result.timed_out and result.returncode is None and not result.ok
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the background child survived the timeout"


def test_background_child_holding_the_pipe_does_not_hang(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    started = time.monotonic()
    result, sink = _run(f"sleep 30 & echo $! > {pidfile}; echo done", tmp_path, timeout=20, linger=0.3)
    assert time.monotonic() - started < 5
    assert result.returncode == 0 and not result.timed_out and "done" in sink.text
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_excerpt_keeps_the_end(tmp_path: Path) -> None:
    result, _ = _run("i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done", tmp_path)
    assert len(result.excerpt) == 4096
    assert result.excerpt.endswith("line-1999\n")


def test_missing_cwd_is_reported_not_raised(tmp_path: Path) -> None:
    result, sink = _run("true", tmp_path / "missing")
    assert not result.ok and result.error and result.returncode is None
    assert "cannot run command" in sink.text


class FakeClock:
    """A clock that only moves when slept on."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_monitor_runs_every_interval_and_returns_last_success(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    clock, sink = FakeClock(), Sink()
    result = run_monitor(
        f"echo x >> {counter}; echo checked",
        every=10,
        for_=30,
        env=_env(),
        cwd=tmp_path,
        timeout=5,
        masker=Masker(),
        out=sink,
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.ok
    assert counter.read_text().count("x") == 4
    assert clock.sleeps == [10, 10, 10]
    assert "monitor check 1/4 ok\n" in sink.text and "monitor check 4/4 ok\n" in sink.text
    assert "[monitor] checked\n" in sink.text


def test_monitor_stops_at_first_failure(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    sink = Sink()
    script = f'echo x >> {counter}; [ "$(wc -l < {counter})" -lt 2 ]'
    result = run_monitor(
        script,
        every=0.05,
        for_=1,
        env=_env(),
        cwd=tmp_path,
        timeout=5,
        masker=Masker(),
        out=sink,
    )
    assert not result.ok and result.returncode == 1
    assert counter.read_text().count("x") == 2
    assert "monitor check 2/21 failed (exit 1)" in sink.text


def test_monitor_rejects_bad_interval(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        run_monitor("true", every=0, for_=1, env=_env(), cwd=tmp_path, timeout=1, masker=Masker(), out=Sink())


def test_timeout_escalates_to_sigkill_when_term_is_ignored(tmp_path: Path) -> None:
    started = time.monotonic()
    result, sink = _run("trap '' TERM; echo armed; while :; do sleep 0.05; done", tmp_path, timeout=0.3)
    assert result.timed_out and "armed" in sink.text
    assert time.monotonic() - started < 4


def test_failing_sink_kills_the_command(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    def broken(text: str) -> None:
        raise BrokenPipeError("stdout went away")

    with pytest.raises(BrokenPipeError):
        run_command(f"echo $$ > {pidfile}; echo hi; sleep 30", env=_env(), cwd=tmp_path, timeout=20,
                    masker=Masker(), out=broken)  # fmt: skip
    shell = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while _alive(shell) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(shell)
