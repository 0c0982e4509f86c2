"""An interrupt (Ctrl-C, or CI cancellation's SIGTERM) while a command is starting still stops it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from trainmaster.masking import Masker
from trainmaster.runner import run_command


def _gone(pid: int, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.02)
    return False


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_while_the_command_starts_stops_its_group(tmp_path: Path, signum: int) -> None:
    pids: list[int] = []
    previous = signal.signal(signal.SIGTERM, _interrupt)  # as the CLI does

    def spawned(pid: int) -> None:  # the interrupt lands between the fork and the loop that watches the command
        pids.append(pid)
        signal.raise_signal(signum)

    try:
        with pytest.raises(KeyboardInterrupt):
            run_command("sleep 30; true", env={"PATH": os.environ["PATH"]}, cwd=tmp_path, timeout=60,
                        masker=Masker([]), out=lambda _text: None, on_spawn=spawned)
        assert pids and _gone(pids[0]), "the command outlived the interrupt"
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handlers are back
    finally:
        signal.signal(signal.SIGTERM, previous)
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
