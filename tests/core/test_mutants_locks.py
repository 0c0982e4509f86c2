"""The environment lock and the queue behind it, in-process: what a holder records, how long a waiter waits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from trainmaster.locks import Cancelled, CancelSignal, EnvironmentLock
from trainmaster.waiting import queued, waiting


def test_each_holder_sees_only_what_the_holder_before_it_recorded(tmp_path: Path) -> None:
    first = EnvironmentLock(tmp_path, "prod")
    assert first.acquire(wait=False)
    first.note_deployment(7)
    first.note_command(424242)
    first.release()
    second = EnvironmentLock(tmp_path, "prod")
    assert second.acquire(wait=False)
    assert second.previous_groups == [424242] and second.previous_token == first.token
    assert EnvironmentLock(tmp_path, "prod").holder() == (os.getpid(), [])  # the new holder ran nothing yet
    second.release()
    third = EnvironmentLock(tmp_path, "prod")
    assert third.acquire(wait=False)
    assert third.previous_groups == [] and third.previous_token == second.token
    third.release()


def test_a_waiter_gives_up_after_its_timeout(tmp_path: Path) -> None:
    holder = EnvironmentLock(tmp_path, "prod")
    assert holder.acquire(wait=False)
    answers: list[bool] = []
    waiter = threading.Thread(target=lambda: answers.append(
        EnvironmentLock(tmp_path, "prod").acquire(wait=True, timeout=0.2, poll=0.01)), daemon=True)
    waiter.start()
    waiter.join(30)
    holder.release()
    assert answers == [False]


def test_a_queued_deployment_is_listed_while_it_waits_and_never_after(tmp_path: Path) -> None:
    with waiting(tmp_path, "prod", "1.2.0", "alice"):
        (note,) = queued(tmp_path)
        assert (note["environment"], note["version"], note["actor"], note["pid"]) == ("prod", "1.2.0", "alice",
                                                                                      os.getpid())
    assert queued(tmp_path) == []
    assert list((tmp_path / "queue").iterdir()) == []


def test_the_note_of_a_process_that_died_is_dropped(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    pid = int(gone.stdout)
    folder = tmp_path / "queue"
    folder.mkdir()
    (folder / f"{pid}.json").write_text(json.dumps({"environment": "prod", "version": "1.0.0", "actor": "bob",
                                                    "since": "2025-01-01T00:00:00.000Z", "pid": pid}))
    with waiting(tmp_path, "prod", "1.1.0", "alice"):
        assert [n["version"] for n in queued(tmp_path)] == ["1.1.0"]
    assert not (folder / f"{pid}.json").exists()


def test_the_queue_is_listed_oldest_first(tmp_path: Path) -> None:
    folder = tmp_path / "queue"
    folder.mkdir()
    alive = os.getpid()
    minutes = [5, 1, 7, 3, 0, 6, 2, 4]  # neither the order they are written in nor its reverse
    for n, minute in enumerate(minutes):
        (folder / f"{n}.json").write_text(json.dumps({"environment": "prod", "version": f"1.0.{minute}", "actor": "a",
                                                      "since": f"2025-06-02T12:0{minute}:00.000Z", "pid": alive}))
    assert [n["version"] for n in queued(tmp_path)] == [f"1.0.{m}" for m in sorted(minutes)]


def test_a_free_lock_has_no_holder(tmp_path: Path) -> None:
    lock = EnvironmentLock(tmp_path, "prod")
    assert lock.acquire(wait=False)
    lock.note_deployment(3)
    assert EnvironmentLock(tmp_path, "prod").holder() == (os.getpid(), [3])
    lock.release()  # the file keeps what it wrote, as when its holder dies
    assert EnvironmentLock(tmp_path, "prod").holder() is None


def test_a_cancel_that_comes_before_the_commands_start_stops_them_when_they_do() -> None:
    cancel = CancelSignal()
    cancel._handle(signal.SIGUSR1, None)  # recorded, not raised: nothing runs yet
    with pytest.raises(Cancelled):
        cancel.arm()
    cancel.arm()  # the request was used up
    cancel.disarm()
    cancel._handle(signal.SIGUSR1, None)  # after the deployment: for nothing that runs
    cancel.disarm()
    cancel.arm()
