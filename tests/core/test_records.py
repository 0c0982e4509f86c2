"""The records the decisions trust, in-process: store integrity, the audit chain, versions,
the ledger's answers, and which orphaned command groups may be stopped."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from trainmaster.audit import GENESIS, event_hash, verify_chain
from trainmaster.errors import DigestMismatch, IntegrityError, InvalidInput
from trainmaster.ledger import SqliteLedger
from trainmaster.locks import stop_orphans
from trainmaster.model import Package, Release, check_digest, check_name, check_version, semver_key
from trainmaster.store import Store

# -- store ---------------------------------------------------------------------------------------------------


def test_a_stored_file_is_intact_only_while_it_hashes_to_its_digest(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    source = tmp_path / "app.bin"
    source.write_bytes(b"the artefact\n")
    staged = store.stage(source)
    assert not store.intact(staged.digest)  # staged is not stored
    path = store.commit(staged)
    assert store.intact(staged.digest) and store.verify(staged.digest) == path
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    path.write_bytes(b"the artefacT\n")  # same size, one byte changed
    assert not store.intact(staged.digest)
    with pytest.raises(DigestMismatch, match="not the pinned"):
        store.verify(staged.digest)
    repaired = store.commit(store.stage(source))  # ingesting it again repairs the store
    assert repaired == path and store.intact(staged.digest)
    path.unlink()
    assert not store.intact(staged.digest)
    with pytest.raises(DigestMismatch, match="missing from the store"):
        store.verify(staged.digest)


# -- audit chain ---------------------------------------------------------------------------------------------


def _chain(n: int) -> list[tuple[object, ...]]:
    events: list[tuple[object, ...]] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        body = (seq, f"2025-06-0{seq}T00:00:00.000Z", f"actor{seq}", f"kind{seq}", f"subject{seq}", f'{{"n":{seq}}}')
        digest = event_hash(*body, prev)  # type: ignore[arg-type]
        events.append((*body, prev, digest))
        prev = digest
    return events


@pytest.mark.parametrize("field", ["at", "actor", "kind", "subject", "data"])
def test_editing_any_field_of_an_event_breaks_the_chain(field: str) -> None:
    events = _chain(3)
    index = ("seq", "at", "actor", "kind", "subject", "data").index(field)
    edited = list(events[1])
    edited[index] = str(edited[index]) + "x"
    events[1] = tuple(edited)
    with pytest.raises(IntegrityError, match="audit log broken at event #2 .* the event was edited"):
        verify_chain(events)


def test_removed_reordered_or_truncated_events_are_found() -> None:
    events = _chain(4)
    report = verify_chain(events)
    assert (report.count, report.head) == (4, events[-1][7])
    assert verify_chain(events, expect_head=events[-1][7]).count == 4  # type: ignore[arg-type]
    with pytest.raises(IntegrityError, match="event 2 is missing"):
        verify_chain([events[0], *events[2:]])
    with pytest.raises(IntegrityError, match="event 1 is missing"):
        verify_chain(events[1:])
    relinked = list(events[2])
    relinked[0] = 2  # renumbered to hide the gap: it no longer chains to the event before it
    with pytest.raises(IntegrityError, match="broken at event #2: it does not chain"):
        verify_chain([events[0], tuple(relinked)])
    with pytest.raises(IntegrityError, match="were removed from the end"):
        verify_chain(events[:3], expect_head=events[-1][7])  # type: ignore[arg-type]
    assert verify_chain([]).head == GENESIS


def test_a_rewritten_event_relinked_to_the_next_one_is_found() -> None:
    """Re-hashing an edited event and re-linking its successor still breaks the successor's own hash."""
    events = _chain(3)
    head = events[-1][7]
    seq, at, actor, kind, subject, data, prev, _ = events[1]
    forged = event_hash(seq, at, "mallory", kind, subject, data, prev)  # type: ignore[arg-type]
    events[1] = (seq, at, "mallory", kind, subject, data, prev, forged)
    events[2] = (*events[2][:6], forged, events[2][7])
    with pytest.raises(IntegrityError, match="broken at event #3 .* the event was edited"):
        verify_chain(events, expect_head=head)  # type: ignore[arg-type]


def test_the_ledgers_audit_log_verifies_and_detects_an_edited_subject(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.db")
    release = Release("demo", "1.0.0", (Package("app", "app.bin", 1, "sha256:" + "a" * 64),))
    ledger.insert_release(release, "bob")
    dep = ledger.start_deployment(release, "dev", "deploy", "bob", {})
    ledger.finish_deployment(dep.id, "succeeded", packages={"app": "deployed"})
    events = list(ledger.audit_events())
    ledger.close()
    assert [e[3] for e in events] == ["release_created", "deployment_started", "deployment_finished"]
    assert verify_chain(events).count == 3
    moved = list(events[1])
    moved[4] = "prod"  # the deployment claimed for another environment
    with pytest.raises(IntegrityError, match="event #2 .*edited"):
        verify_chain([events[0], tuple(moved), events[2]])


# -- versions ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [
    "0.0.0", "1.2.3", "10.20.30", "1.0.0-0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0A.is.legal",
    "1.0.0-rc.1+build.5", "1.0.0+20130313144700", "2.0.0-x-y-z.--", "1.0.0-10",
])
def test_semver_versions_are_accepted(version: str) -> None:
    assert check_version(version) == version


@pytest.mark.parametrize("version", [
    "01.0.0", "1.01.0", "1.0.01", "00.0.0", "1.0.0-01", "1.0.0-alpha.01", "v1.0.0", "1.0", "1", "1.0.0.0",
    "1.0.0-", "1.0.0+", "1.0.0-a..b", "1.0.0+a..b", " 1.0.0", "1.0.0 ", "1.0.0\n", "", "1.0.0-é",
])
def test_non_semver_versions_are_refused(version: str) -> None:
    with pytest.raises(InvalidInput, match="is not a SemVer 2.0 version"):
        check_version(version)


def test_digests_and_names_are_whole_strings() -> None:
    good = "sha256:" + "0123456789abcdef" * 4
    assert check_digest(good) == good and check_name("app.v2_x-1") == "app.v2_x-1"
    for digest in (good + "\n", good.upper(), good[:-1], "sha512:" + good[7:], good + "0", "x" + good):
        with pytest.raises(InvalidInput, match="is not of the form"):
            check_digest(digest)
    for name in ("app\n", "-app", ".app", "a/b", "a b", ""):
        with pytest.raises(InvalidInput, match="must start with a letter or digit"):
            check_name(name)


def test_versions_sort_by_semver_precedence() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0", "10.0.0"]
    assert sorted(reversed(ordered), key=semver_key) == ordered
    assert semver_key("1.0.0+build.1") == semver_key("1.0.0+build.2") == semver_key("1.0.0")


# -- the ledger's answers ------------------------------------------------------------------------------------


def test_first_success_last_success_and_latest_attempt(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.db")
    one = Release("demo", "1.0.0", (Package("app", "app.bin", 1, "sha256:" + "1" * 64),))
    two = Release("demo", "2.0.0", (Package("app", "app.bin", 1, "sha256:" + "2" * 64),))
    for release in (one, two):
        ledger.insert_release(release, "bob")
    ids = []
    for release, env, status in [(one, "dev", "failed"), (one, "dev", "succeeded"), (two, "dev", "succeeded"),
                                 (one, "dev", "succeeded"), (two, "dev", "failed"), (two, "prod", "succeeded")]:
        dep = ledger.start_deployment(release, env, "deploy", "bob", {})
        ids.append(ledger.finish_deployment(dep.id, status, packages={}).id)
        time.sleep(0.002)  # distinct millisecond stamps (recorded by the ledger's own clock)
    finished = {d.id: d.finished_at for d in ledger.history("dev")}
    assert ledger.succeeded_at(one.id, "dev") == finished[ids[1]]  # the first success, not the latest
    assert ledger.succeeded_at(two.id, "dev") == finished[ids[2]]
    assert ledger.succeeded_at(two.id, "test") is None
    assert ledger.last_success("dev").id == ids[3]  # type: ignore[union-attr]
    assert ledger.last_success("dev", exclude_release=one.id).id == ids[2]  # type: ignore[union-attr]
    assert ledger.latest("dev").id == ids[4]  # type: ignore[union-attr]
    assert ledger.latest("nowhere") is None
    assert [d.id for d in ledger.history("dev", 2)] == ids[3:5]
    assert ledger.attempted(two.id, "prod") and not ledger.attempted(one.id, "prod")
    ledger.close()


# -- orphaned command groups ---------------------------------------------------------------------------------


@pytest.fixture
def groups() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _group(started: list[subprocess.Popen[bytes]], **markers: str) -> subprocess.Popen[bytes]:
    """A command group (a shell and its child) carrying ``TRAINMASTER_*`` markers, as a deployment's command."""
    env = {"PATH": os.environ["PATH"], **{f"TRAINMASTER_{k.upper()}": v for k, v in markers.items()}}
    proc = subprocess.Popen(["/bin/sh", "-c", "sleep 60; true"], env=env, start_new_session=True)
    started.append(proc)
    deadline = time.monotonic() + 10
    while not _has_child(proc.pid) and time.monotonic() < deadline:  # the whole group exists
        time.sleep(0.01)
    return proc


def _has_child(pid: int) -> bool:
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                if int(fh.read().rsplit(b")", 1)[1].split()[1]) == pid:
                    return True
        except (OSError, ValueError, IndexError):
            continue
    return False


def test_only_groups_carrying_all_three_markers_are_stopped(groups: list[subprocess.Popen[bytes]]) -> None:
    mine = _group(groups, deployment_id="7", environment="prod", project="demo")
    other_env = _group(groups, deployment_id="7", environment="dev", project="demo")
    other_project = _group(groups, deployment_id="7", environment="prod", project="shop")
    other_dep = _group(groups, deployment_id="71", environment="prod", project="demo")
    only_id = _group(groups, deployment_id="7")
    unlisted = _group(groups, deployment_id="7", environment="prod", project="demo")
    listed = [g.pid for g in (mine, other_env, other_project, other_dep, only_id)]
    assert stop_orphans(listed, 7, "prod", "demo") == 1
    assert mine.wait(10) == -signal.SIGKILL
    assert [g.poll() for g in (other_env, other_project, other_dep, only_id, unlisted)] == [None] * 5
    assert stop_orphans([], 7, "prod", "demo") == 0


def test_a_group_never_recorded_is_found_by_its_dead_deployers_run_token(
    groups: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """The deployer can be killed after starting a command and before writing its group to the lock file."""
    from trainmaster.locks import EnvironmentLock

    lock = EnvironmentLock(tmp_path, "prod")
    assert lock.acquire(wait=False) and lock.token
    token = lock.token
    lock.release()  # as when the deployer dies: the file keeps what it wrote
    assert EnvironmentLock(tmp_path, "prod").recorded_token() == token
    unrecorded = _group(groups, deployment_id="7", environment="prod", project="demo", run_token=token)
    stranger = _group(groups, deployment_id="7", environment="prod", project="demo", run_token="f" * 24)
    assert stop_orphans([], 7, "prod", "demo", token) == 1
    assert unrecorded.wait(10) == -signal.SIGKILL
    assert stranger.poll() is None  # another holder's command (another checkout's ledger) is left alone
