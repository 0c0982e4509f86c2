"""Hostile or broken input at the trust boundary: each row is one attack, driven through the real CLI.

Trust model: the config checked out with the pipeline is trusted to say what it wants, but
everything is bounded; whatever is read back from disk is data. Each row gives the input, the
exit code, and what must be true afterwards: the ledger and the store are unchanged, stderr
carries one message naming the problem, and never a traceback.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.project import BASIC_CONFIG, SECRET, Project, copy_project

Setup = Callable[[Project], list[str]]


@dataclass(frozen=True)
class Case:
    """One attack: ``setup`` prepares the project and returns the CLI arguments."""

    id: str
    setup: Setup
    exit_code: int
    says: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    released: bool = True  # create release 1.0.0 before the attack (so there is a ledger to keep)


def _config(extra: str = "", *, replace: tuple[str, str] | None = None) -> Setup:
    def setup(p: Project) -> list[str]:
        text = BASIC_CONFIG if replace is None else BASIC_CONFIG.replace(*replace)
        p.write("trainmaster.yaml", text + extra)
        return ["validate"]
    return setup


def _raw_config(text: str | bytes, args: tuple[str, ...] = ("validate",)) -> Setup:
    def setup(p: Project) -> list[str]:
        path = p.root / "trainmaster.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return list(args)
    return setup


def _args(*args: str) -> Setup:
    return lambda p: list(args)


def _deploy_with(replace: tuple[str, str]) -> Setup:
    def setup(p: Project) -> list[str]:
        _config(replace=replace)(p)
        return ["deploy", "1.0.0", "--to", "dev"]
    return setup


def _fifo_config(p: Project) -> list[str]:
    os.mkfifo(p.root / "pipe.yaml")
    return ["--config", "pipe.yaml", "validate"]


def _dir_config(p: Project) -> list[str]:
    (p.root / "conf.d").mkdir()
    return ["--config", "conf.d", "validate"]


def _bomb(levels: int) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        refs = ",".join(f"*a{i - 1}" for _ in range(9))
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "project: demo\ntrain: [{name: dev}]\n" + "\n".join(lines) + "\n"


def _github_token_env(p: Project) -> list[str]:
    p.write("trainmaster.yaml", BASIC_CONFIG.replace("pass_env: [DEST]", "pass_env: [DEST, MY_GH_PAT]")
            + "github:\n  repository: acme/app\n  token_env: MY_GH_PAT\n")
    return ["validate"]


PASS_ENV = "pass_env: [DEST]"
CASES = [
    # 1. pass_env must not hand an environment's secret source or a CI/adapter credential to commands
    Case("pass_env-secret-source", _config(replace=(PASS_ENV, "pass_env: [DEST, PROD_DB_PASSWORD]")), 2,
         ("trainmaster.yaml:8", "PROD_DB_PASSWORD", "pass_env")),
    *[Case(f"pass_env-{name}", _config(replace=(PASS_ENV, f"pass_env: [DEST, {name}]")), 2,
           ("trainmaster.yaml:8", name, "credential"))
      for name in ("GITHUB_TOKEN", "GH_TOKEN", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                   "SYSTEM_ACCESSTOKEN", "OCTOPUS_API_KEY", "OCTOPUS_ACCESS_TOKEN", "AZURE_DEVOPS_EXT_PAT")],
    Case("pass_env-github-token_env", _github_token_env, 2, ("trainmaster.yaml:8", "MY_GH_PAT"),
         env={"TRAINMASTER_LOAD_PLUGINS": "github"}),
    # 2. input limits
    Case("config-over-1MiB", _raw_config(BASIC_CONFIG + "#" + "x" * (1 << 20) + "\n"), 2, ("1 MiB",)),
    Case("alias-bomb-9-levels", _raw_config(_bomb(9)), 2, ("alias", "nodes")),
    Case("alias-bomb-405-bytes", _raw_config(_bomb(7)), 2, ("alias", "nodes")),
    Case("nul-in-project", _config(replace=("project: demo", 'project: "de\\0mo"')), 2,
         ("trainmaster.yaml:1",)),
    Case("escape-in-environment-name", _config(replace=("name: dev", 'name: "dev\\e[2J"')), 2,
         ("trainmaster.yaml:10",)),
    Case("nul-in-variable-value", _config(replace=("{GREETING: hello-dev}", '{GREETING: "hel\\0lo"}')), 2,
         ("trainmaster.yaml:11", "control character")),
    Case("nul-in-variable-value-deploy", _deploy_with(("{GREETING: hello-dev}", '{GREETING: "hel\\0lo"}')), 2,
         ("control character",)),
    Case("escape-in-command", _config(replace=("deploy: sh deploy.sh", 'deploy: "sh deploy.sh\\e]0;x\\a"')), 2,
         ("trainmaster.yaml:5", "control character")),
    Case("huge-approvals", _config(replace=("approvals: 1", "approvals: 99999999999999999999999")), 2,
         ("trainmaster.yaml:", "approvals")),
    Case("huge-duration", _config(replace=(PASS_ENV, PASS_ENV + "\n  soak: 99999999999999999999d")), 2,
         ("trainmaster.yaml:", "soak")),
    Case("history-huge-limit", _args("history", "--limit", "99999999999999999999999"), 2, ("--limit",)),
    Case("lock-timeout-not-a-number", _args("deploy", "1.0.0", "--to", "dev"), 2,
         ("TRAINMASTER_LOCK_TIMEOUT",), env={"TRAINMASTER_LOCK_TIMEOUT": "abc"}),
    Case("lock-timeout-nan", _args("deploy", "1.0.0", "--to", "dev"), 2, ("TRAINMASTER_LOCK_TIMEOUT",),
         env={"TRAINMASTER_LOCK_TIMEOUT": "nan"}),
    Case("ledger-timeout-not-a-number", _args("status"), 2, ("TRAINMASTER_LEDGER_TIMEOUT",),
         env={"TRAINMASTER_LEDGER_TIMEOUT": "2 minutes"}),
    Case("ledger-timeout-negative", _args("release", "create", "2.0.0"), 2, ("TRAINMASTER_LEDGER_TIMEOUT",),
         env={"TRAINMASTER_LEDGER_TIMEOUT": "-1"}),
    Case("config-dev-zero", _args("--config", "/dev/zero", "validate"), 2, ("/dev/zero", "regular file")),
    Case("config-directory", _dir_config, 2, ("conf.d", "regular file")),
    Case("config-fifo", _fifo_config, 2, ("pipe.yaml", "regular file")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_attack_is_refused_and_changes_nothing(project: Project, case: Case,
                                              project_template: Callable[..., Project]) -> None:
    if case.released:  # created once by the real CLI, copied for each case
        copy_project(project_template(("release", "create", "1.0.0")), project)
    before = project.snapshot()
    args = case.setup(project)
    result = project.run(*args, env=case.env, timeout=30)
    assert result.returncode == case.exit_code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    for text in case.says:
        assert text in result.stderr, (text, result.stderr)
    assert project.snapshot() == before


def test_tab_and_newline_stay_legitimate_in_commands(project: Project) -> None:
    project.write("trainmaster.yaml", BASIC_CONFIG.replace("deploy: sh deploy.sh", 'deploy: "sh\\tdeploy.sh\\n"'))
    project.ok("release", "create", "1.0.0")
    project.ok("deploy", "1.0.0", "--to", "dev")


def test_pass_env_of_an_environments_own_secret_is_passed_and_masked(project: Project) -> None:
    project.write("trainmaster.yaml", BASIC_CONFIG.replace(
        "      DB_PASSWORD: {secret: env:PROD_DB_PASSWORD}",
        "      PROD_DB_PASSWORD: {secret: env:PROD_DB_PASSWORD}\n    pass_env: [DEST, PROD_DB_PASSWORD]"))
    project.write("deploy.sh", "echo \"pw=$PROD_DB_PASSWORD\"\n" + Path(project.root / "deploy.sh").read_text())
    project.ok("release", "create", "1.0.0")
    for env in ("dev", "test"):
        project.ok("deploy", "1.0.0", "--to", env)
    project.ok("approve", "1.0.0", "--env", "prod", "--by", "alice")
    result = project.ok("deploy", "1.0.0", "--to", "prod")
    assert "pw=***" in result.stdout + result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_recursive_glob_does_not_follow_symlink_loops(project: Project) -> None:
    (project.root / "build" / "loop-a").symlink_to(".")
    (project.root / "build" / "loop-b").symlink_to(".")
    project.write("trainmaster.yaml", BASIC_CONFIG.replace("app: build/app.bin", "app: 'build/**/app.bin'"))
    result = project.run("release", "create", "1.0.0", timeout=30)
    assert result.returncode == 0, result.stderr


def test_glob_stops_after_a_bounded_number_of_entries(project: Project, mounted: Callable[..., Path]) -> None:
    from trainmaster.publish import GLOB_MAX_ENTRIES

    # on a tmpfs, unmounted afterwards: 100,001 files cost seconds to create on the disk, and again to delete
    many = mounted("-t", "tmpfs", "-o", "size=1m", "tmpfs", at=project.root / "build" / "many")
    for i in range(GLOB_MAX_ENTRIES + 1):
        os.mknod(f"{many}/f{i}")  # an empty regular file: one system call (a third of Path.touch's time)
    project.write("trainmaster.yaml", BASIC_CONFIG.replace("app: build/app.bin", "app: 'build/**/app.bin'"))
    result = project.run("release", "create", "1.0.0", timeout=60)
    assert result.returncode == 2, result.stderr
    assert "entries" in result.stderr and "Traceback" not in result.stderr
    assert project.snapshot() == {"tables": {}, "store": {}}


# -- 3. honest OS errors ----------------------------------------------------------------------


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Mount a real filesystem for the test (tests run as root); unmounted afterwards."""
    points: list[Path] = []

    def mount(*args: str, at: Path) -> Path:
        at.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", *args, str(at)], check=True, capture_output=True)
        points.append(at)
        return at

    yield mount
    for point in reversed(points):
        subprocess.run(["umount", "-l", str(point)], check=False)


def _state_on(project: Project, folder: Path) -> None:
    project.write("trainmaster.yaml", BASIC_CONFIG + f"state_dir: {folder}\n")


def test_read_only_state_folder_is_exit_5_not_corruption(project: Project, mounted: Callable[..., Path],
                                                         tmp_path: Path) -> None:
    state = tmp_path / "state"
    _state_on(project, state)
    project.ok("release", "create", "1.0.0")
    mounted("--bind", "-o", "ro", str(state), at=state)
    for args in (("status",), ("deploy", "1.0.0", "--to", "dev")):
        result = project.run(*args)
        assert result.returncode == 5, (args, result.stderr)
        assert "read-only" in result.stderr and str(state) in result.stderr
        assert "backup" not in result.stderr and "Traceback" not in result.stderr


def test_full_disk_is_exit_5_not_corruption(project: Project, mounted: Callable[..., Path],
                                            tmp_path: Path) -> None:
    state = mounted("-t", "tmpfs", "-o", "size=64k", "tmpfs", at=tmp_path / "state")
    _state_on(project, state)
    project.build("healthy" + "x" * 200_000)
    result = project.run("release", "create", "1.0.0")
    assert result.returncode == 5, result.stderr
    assert "no space left" in result.stderr.lower() and str(state) in result.stderr
    assert "Traceback" not in result.stderr and "backup" not in result.stderr


def test_full_disk_for_the_ledger_is_exit_5(project: Project, mounted: Callable[..., Path],
                                            tmp_path: Path) -> None:
    state = mounted("-t", "tmpfs", "-o", "size=2m", "tmpfs", at=tmp_path / "state")
    _state_on(project, state)
    project.ok("release", "create", "1.0.0")
    filler = state / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)  # fill what is left, for real
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    result = project.run("deploy", "1.0.0", "--to", "dev")
    assert result.returncode == 5, result.stderr
    assert "no space left" in result.stderr.lower() and "backup" not in result.stderr
    assert "Traceback" not in result.stderr


def test_immutable_state_folder_is_permission_denied_exit_5(project: Project, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    _state_on(project, state)
    subprocess.run(["chattr", "+i", str(state)], check=True)  # root ignores mode bits, not this
    try:
        result = project.run("status")
    finally:
        subprocess.run(["chattr", "-i", str(state)], check=True)
    assert result.returncode == 5, result.stderr
    assert "not permitted" in result.stderr.lower() and str(state) in result.stderr
    assert "Traceback" not in result.stderr


def test_state_dir_that_is_a_file_is_exit_2_naming_it_not_corruption(project: Project) -> None:
    project.write("afile", "not a folder")
    _state_on(project, project.root / "afile")
    result = project.run("status")
    assert result.returncode == 2, result.stderr
    assert "backup" not in result.stderr
    assert "afile" in result.stderr and "Traceback" not in result.stderr


def test_os_error_classifier_with_real_syscalls() -> None:
    from trainmaster.errors import TrainmasterError, from_os_error

    with pytest.raises(OSError) as full:
        with open("/dev/full", "wb", buffering=0) as fh:
            fh.write(b"x")
    err = from_os_error(full.value, "/dev/full")
    assert isinstance(err, TrainmasterError) and err.exit_code == 5
    assert "no space left" in str(err).lower() and "/dev/full" in str(err)


def test_corrupt_ledger_still_says_restore_from_a_backup(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    (project.state / "ledger.db").write_bytes(b"this is not a database" * 100)
    for name in ("ledger.db-wal", "ledger.db-shm"):
        (project.state / name).unlink(missing_ok=True)
    result = project.run("status")
    assert result.returncode == 4, result.stderr
    assert "backup" in result.stderr and "Traceback" not in result.stderr


# -- 4. the clock -------------------------------------------------------------------------------


def _future_event(project: Project, at: str = "2999-01-01T00:00:00.000Z") -> None:
    """Append a correctly chained audit event dated in the future, as a clock that went back would see it."""
    from trainmaster.audit import event_hash

    conn = sqlite3.connect(project.state / "ledger.db")
    seq, prev = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    row = (seq + 1, at, "clock", "note", "demo", "{}", prev)
    conn.execute("INSERT INTO audit (seq, at, actor, kind, subject, data, prev, hash) VALUES (?,?,?,?,?,?,?,?)",
                 (*row, event_hash(*row)))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("args", [("deploy", "1.0.0", "--to", "dev"),
                                  ("approve", "1.0.0", "--env", "prod", "--by", "bob"),
                                  ("release", "create", "2.0.0")])
def test_an_event_earlier_than_the_last_one_is_refused(project: Project, args: tuple[str, ...]) -> None:
    project.ok("release", "create", "1.0.0")
    _future_event(project)
    before = project.snapshot()
    result = project.run(*args)
    assert result.returncode == 5, result.stderr
    assert "the clock went back by" in result.stderr and "Traceback" not in result.stderr
    assert project.snapshot() == before


def test_soak_is_not_met_early_when_the_clock_went_back(project: Project) -> None:
    """A success recorded under a clock set back would look older than it is, and meet a soak early.

    So it is never recorded: the ledger last saw a later time (2 h ahead), and the deployment that
    would record dev's success under the clock gone back is refused before anything is written.
    """
    import datetime as dt

    project.write("trainmaster.yaml", BASIC_CONFIG.replace("{GREETING: hello-test}",
                                                           "{GREETING: hello-test}\n    soak: 1h"))
    project.ok("release", "create", "1.0.0")
    ahead = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat(timespec="milliseconds")
    _future_event(project, ahead.replace("+00:00", "Z"))
    before = project.snapshot()
    result = project.run("deploy", "1.0.0", "--to", "dev")
    assert result.returncode == 5, result.stderr
    assert "the clock went back by" in result.stderr and "Traceback" not in result.stderr
    assert project.snapshot() == before
    assert project.run("deploy", "1.0.0", "--to", "test").returncode == 3  # no success in dev: no soak to meet


# -- 5. no leftovers ----------------------------------------------------------------------------


def _kill_mid_create(project: Project) -> Path:
    """Start ``release create`` of a 1 GiB (sparse) artefact and ``kill -9`` it once its staged file exists."""
    big = project.root / "build" / "big.bin"
    with open(big, "wb") as fh:
        fh.truncate(1 << 30)
    project.write("trainmaster.yaml", BASIC_CONFIG.replace("app: build/app.bin", "app: build/big.bin"))
    proc = subprocess.Popen([sys.executable, "-m", "trainmaster", "release", "create", "1.0.0"],
                            cwd=project.root, env=project.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tmp = project.state / "store" / "tmp"
    try:
        while not (tmp.exists() and list(tmp.glob("ingest-*"))):
            assert proc.poll() is None
            time.sleep(0.005)  # polled, not spun: the process it waits for needs the CPU
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -9
    return tmp


def test_a_killed_release_create_leaves_no_temp_file(project: Project) -> None:
    tmp = _kill_mid_create(project)
    assert list(tmp.glob("ingest-*")), "the kill must leave the staged file (the point of this test)"
    project.write("trainmaster.yaml", BASIC_CONFIG)
    project.ok("status")
    assert list(tmp.glob("ingest-*")) == []


def _held(path: Path) -> bool:
    """Whether another process holds the staging file's lock (wait for that, not just for the file)."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock taken here
    return False


def test_a_live_release_create_keeps_its_temp_file(project: Project) -> None:
    import signal

    big = project.root / "build" / "big.bin"
    with open(big, "wb") as fh:
        fh.write(b"healthy\n")
        fh.truncate(1 << 30)
    project.write("trainmaster.yaml", BASIC_CONFIG.replace("app: build/app.bin", "app: build/big.bin"))
    project.ok("status")  # the ledger exists: the create, paused below, is not in the middle of making it
    proc = subprocess.Popen([sys.executable, "-m", "trainmaster", "release", "create", "1.0.0"],
                            cwd=project.root, env=project.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tmp = project.state / "store" / "tmp"
    try:
        while not (tmp.exists() and any(_held(path) for path in tmp.glob("ingest-*"))):
            assert proc.poll() is None
            time.sleep(0.005)
        proc.send_signal(signal.SIGSTOP)  # alive but paused: its staged file must survive a sweep
        project.ok("status")
        assert list(tmp.glob("ingest-*"))
    finally:
        proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


def test_a_killed_deploy_leaves_no_work_folder(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    flag = project.root / "started"
    project.write("deploy.sh", f"touch {flag}\nsleep 600\n")
    proc = subprocess.Popen([sys.executable, "-m", "trainmaster", "deploy", "1.0.0", "--to", "dev"], cwd=project.root,
                            env=project.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not flag.exists():
            assert proc.poll() is None
            time.sleep(0.005)
        assert list((project.state / "work").iterdir())
        proc.kill()
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    result = project.ok("status")
    assert "interrupted" in result.stdout
    assert list((project.state / "work").iterdir()) == []
