"""Remote runbooks on ``target: octopus`` through the real CLI against the Octopus fake.

``runbooks: {NAME: {remote: RUNBOOK}}`` runs the Octopus runbook RUNBOOK of the project (its published
snapshot) in the environment, waits for its task like a deployment, streams its log masked and records
the outcome. Every request is checked against tests/contracts/octopus.swagger.json by the fake.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.support.ci_logs import github_commands
from tests.support.octopus_cli import CONFIG, cli_env, cli_project

PASSWORD = "pw-Runbook-9x!sentinel"
RUNBOOKS = """\
runbooks:
  migrate-db:
    remote: Migrate DB
    environments: [dev, prod]
  guarded:
    remote: Migrate DB
    environments: [dev]
    approvals: 1
  slow:
    remote: Migrate DB
    environments: [dev]
    timeout: 1s
"""


@pytest.fixture
def project(tmp_path, octopus_fake):
    bare, work, fake = cli_project(tmp_path, octopus_fake)

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return bare(*args, DB_PW=PASSWORD, **extra)

    text = CONFIG.replace("  - name: dev\n", "  - name: dev\n    variables: {DB_PASSWORD: {secret: env:DB_PW}}\n")
    text = text.replace("  poll_interval: 0.05\n", "  poll_interval: 0.05\n  prompted_variables: []\n")
    (work / "trainmaster.yaml").write_text(text + RUNBOOKS)
    fake.seed_runbook("Migrate DB")
    assert run("release", "create", "1.0.0").returncode == 0
    assert run("deploy", "1.0.0", "--to", "dev").returncode == 0
    return run, work, fake


def _runs(run: Any) -> list[tuple[str, str, str]]:
    out = run("runs", "--json")
    assert out.returncode == 0, out.stderr
    return [(r["runbook"], r["version"], r["status"]) for r in json.loads(out.stdout)["runs"]]


def _until(condition: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.02)


def test_a_remote_runbook_runs_in_octopus_streams_its_log_masked_and_is_recorded(project):
    run, _, fake = project
    fake.log_next_runbook_run(["Connecting to the database", f"migrating with password {PASSWORD}", "done"])
    out = run("run", "migrate-db", "--env", "dev")
    assert out.returncode == 0, out.stderr
    (remote,) = fake.runbook_runs.values()
    book = next(iter(fake.runbooks.values()))
    assert remote["RunbookSnapshotId"] == book["PublishedRunbookSnapshotId"]
    assert fake.environments[remote["EnvironmentId"]]["Name"] == "Development"
    assert fake.tasks[remote["TaskId"]]["State"] == "Success"
    assert "running runbook 'Migrate DB' in Development" in out.stdout
    assert "  | Connecting to the database\n" in out.stdout and "  | done\n" in out.stdout
    assert out.stdout.count("Connecting to the database") == 1  # each line once, however often it polled
    assert PASSWORD not in out.stdout + out.stderr and "migrating with password ***" in out.stdout
    assert _runs(run) == [("migrate-db", "1.0.0", "succeeded")]
    (record,) = json.loads(run("runs", "--json").stdout)["runs"]
    assert "done" in record["excerpt"] and remote["TaskId"] in record["excerpt"]
    assert PASSWORD not in record["excerpt"]


def test_the_task_log_is_data_a_ci_runner_never_obeys(project, tmp_path):
    run, work, fake = project
    fake.log_next_runbook_run(["::set-env name=EVIL::1", "ok ##[error]EVIL",
                               "ok ##vso[task.setvariable variable=EVIL]1"])
    summary = tmp_path / "summary.md"
    out = run("run", "migrate-db", "--env", "dev", GITHUB_ACTIONS="true", CI="true",
              GITHUB_STEP_SUMMARY=str(summary))
    assert out.returncode == 0, out.stderr
    obeyed = github_commands(out.stdout)
    assert [name for name, data in obeyed if name == "set-env" or "EVIL" in data] == [], obeyed
    assert "set-env name=EVIL" in out.stdout


def test_a_failed_octopus_runbook_run_exits_1_and_is_recorded_failed(project):
    run, _, fake = project
    fake.fail_next_deployment("The step 'Migrate' failed: table locked")
    out = run("run", "migrate-db", "--env", "dev")
    assert out.returncode == 1, out.stderr
    assert "runbook 'migrate-db' failed in dev" in out.stderr and "Traceback" not in out.stderr
    assert _runs(run) == [("migrate-db", "1.0.0", "failed")]
    (record,) = json.loads(run("runs", "--json").stdout)["runs"]
    assert "table locked" in record["excerpt"]


def test_approvals_are_required_before_anything_runs_in_octopus(project):
    run, _, fake = project
    refused = run("run", "guarded", "--env", "dev")
    assert refused.returncode == 3 and "needs 1 approval(s)" in refused.stderr
    assert not fake.runbook_runs and _runs(run) == []
    assert run("run", "guarded", "--env", "dev", "--approve", "--by", "alice").returncode == 0
    out = run("run", "guarded", "--env", "dev")
    assert out.returncode == 0, out.stderr
    assert len(fake.runbook_runs) == 1 and _runs(run) == [("guarded", "1.0.0", "succeeded")]


def test_a_lost_create_answer_is_recovered_without_a_second_run(project):
    run, _, fake = project
    fake.lose_response(operation_id="createRunbookRunCreate_Spaces")
    out = run("run", "migrate-db", "--env", "dev")
    assert out.returncode == 0, out.stderr
    assert fake.count("createRunbookRunCreate_Spaces") == 1 and len(fake.runbook_runs) == 1
    assert _runs(run) == [("migrate-db", "1.0.0", "succeeded")]


def _popen(tmp_path: Any, project: Any, *args: str) -> subprocess.Popen[str]:
    _, work, fake = project
    return subprocess.Popen([sys.executable, "-m", "trainmaster", *args], cwd=work,
                            env={**cli_env(tmp_path, fake), "DB_PW": PASSWORD},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _started(tmp_path: Any, project: Any, *args: str) -> tuple[subprocess.Popen[str], str]:
    """``trainmaster ARGS`` in the background, once its Octopus run exists: (process, the run's task id)."""
    _, work, fake = project
    fake.stall_next_deployment()  # the run's task stays Executing until released or cancelled
    proc = _popen(tmp_path, project, *args)
    _until(lambda: len(fake.runbook_runs) == 1 and proc.poll() is None)
    (remote,) = fake.runbook_runs.values()
    return proc, remote["TaskId"]


def test_a_run_whose_runner_was_killed_after_the_post_is_adopted_not_started_twice(tmp_path, project):
    run, _, fake = project
    proc, task_id = _started(tmp_path, project, "run", "migrate-db", "--env", "dev")
    proc.kill()  # kill -9 after the POST: the Octopus run goes on without its runner
    proc.communicate(timeout=30)
    polled = fake.count("getTaskDetails_Spaces")
    rerun = _popen(tmp_path, project, "run", "migrate-db", "--env", "dev")
    _until(lambda: fake.count("getTaskDetails_Spaces") > polled)  # the re-run waits on the same task
    fake.release_task(task_id)  # now it may finish
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert "adopting run RunbookRuns-" in out and task_id in out
    assert fake.count("createRunbookRunCreate_Spaces") == 1 and len(fake.runbook_runs) == 1
    assert _runs(run) == [("migrate-db", "1.0.0", "interrupted"), ("migrate-db", "1.0.0", "succeeded")]
    again = run("run", "migrate-db", "--env", "dev")  # a finished run is never adopted: this one runs again
    assert again.returncode == 0 and len(fake.runbook_runs) == 2


def test_a_run_held_by_a_manual_intervention_is_exit_3_and_a_rerun_adopts_its_outcome(tmp_path, project):
    """Someone must respond in Octopus: exit 3 with the task's link. Once the task has finished there,
    the next ``run`` takes its outcome instead of running the runbook a second time."""
    run, _, fake = project
    proc, task_id = _started(tmp_path, project, "run", "migrate-db", "--env", "dev")
    fake.hold_task(task_id, "Take a backup first?")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3 and "waits on a manual intervention" in err and task_id in err, err
    assert _runs(run) == [("migrate-db", "1.0.0", "pending")]
    fake.release_task(task_id)
    fake.advance(fake.tasks[task_id])  # it finishes in Octopus while nobody waits on it
    assert fake.tasks[task_id]["State"] == "Success"
    out = run("run", "migrate-db", "--env", "dev")
    assert out.returncode == 0, out.stderr
    assert f"(task {task_id})" in out.stdout and "adopting run" in out.stdout
    assert len(fake.runbook_runs) == 1 and fake.count("createRunbookRunCreate_Spaces") == 1
    assert _runs(run) == [("migrate-db", "1.0.0", "pending"), ("migrate-db", "1.0.0", "succeeded")]


def test_sigterm_cancels_the_octopus_run_and_records_it_cancelled(tmp_path, project):
    run, _, fake = project
    proc, task_id = _started(tmp_path, project, "run", "migrate-db", "--env", "dev")
    _until(lambda: fake.count("getTaskDetails_Spaces") > 0)  # it is waiting on the task
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert fake.tasks[task_id]["State"] == "Canceled" and fake.count("createTaskCancel_Spaces") == 1
    assert _runs(run) == [("migrate-db", "1.0.0", "cancelled")]


def test_a_run_over_its_timeout_is_cancelled_in_octopus_and_fails_exit_1(project):
    run, _, fake = project
    fake.stall_next_deployment()
    out = run("run", "slow", "--env", "dev")
    assert out.returncode == 1, out.stderr
    (remote,) = fake.runbook_runs.values()
    assert fake.tasks[remote["TaskId"]]["State"] == "Canceled"
    assert _runs(run) == [("slow", "1.0.0", "failed")]
    (record,) = json.loads(run("runs", "--json").stdout)["runs"]
    assert "did not finish within 1s and were cancelled" in record["excerpt"]


def test_an_unknown_or_unpublished_octopus_runbook_is_exit_2_and_nothing_runs(project):
    run, work, fake = project
    text = (work / "trainmaster.yaml").read_text()
    (work / "trainmaster.yaml").write_text(text.replace("remote: Migrate DB\n    environments: [dev, prod]",
                                                        "remote: Migrate Db\n    environments: [dev, prod]"))
    for args in (("validate",), ("run", "migrate-db", "--env", "dev")):
        out = run(*args)
        assert out.returncode == 2 and "has no runbook named 'Migrate Db'" in out.stderr, out.stderr
    fake.seed_runbook("Migrate Db", published=False)
    for args in (("validate",), ("run", "migrate-db", "--env", "dev")):
        out = run(*args)
        assert out.returncode == 2 and "has no published snapshot" in out.stderr, out.stderr
    assert not fake.runbook_runs and _runs(run) == []
    fake.reset_log()
    assert run("validate").returncode == 2
    assert fake.count("indexProjectRunbooks_Spaces") == 1  # asked once, however many environments run it


def test_the_run_a_rerun_resumes_is_found_past_the_first_page_of_runs(tmp_path, project):
    """Between the interrupted run and its re-run, 150 other runs of the snapshot (other people, other
    releases): the resumed run is on the second page of ``runbookRuns`` and is still adopted, not run again."""
    run, _, fake = project
    proc, task_id = _started(tmp_path, project, "run", "migrate-db", "--env", "dev")
    fake.hold_task(task_id, "Take a backup first?")
    proc.communicate(timeout=60)
    assert proc.returncode == 3
    fake.release_task(task_id)
    fake.advance(fake.tasks[task_id])
    (ours,) = fake.runbook_runs.values()
    for n in range(150):
        other = dict(ours, Id=f"RunbookRuns-9{n:04d}", Comments=f"run by someone else #{n}")
        fake.runbook_runs[other["Id"]] = other
    out = run("run", "migrate-db", "--env", "dev")
    assert out.returncode == 0, out.stderr
    assert "adopting run" in out.stdout and f"(task {task_id})" in out.stdout
    assert fake.count("createRunbookRunCreate_Spaces") == 1
    assert _runs(run) == [("migrate-db", "1.0.0", "pending"), ("migrate-db", "1.0.0", "succeeded")]
