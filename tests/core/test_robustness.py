"""Rough edges a release engineer hits in the first hour: each ends in one message and the right exit code."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from tests.support.project import Project


def test_approvals_from_others_are_recorded_but_do_not_count(bare_project: Project) -> None:
    p = bare_project
    p.write("trainmaster.yaml", """\
        project: demo
        packages: {app: app.bin}
        train:
          - name: prod
            deploy: "true"
            approvals: {count: 1, from: [carol]}
        """)
    p.write("app.bin", "x")
    p.ok("release", "create", "1.0.0")
    bob_run = p.run("approve", "1.0.0", "--env", "prod", "--by", "bob", "--json")
    assert bob_run.returncode == 3, "an approval that does not count is the user's intent failing"
    assert json.loads(bob_run.stdout) == {"recorded": True, "counts": False, "approvals": 0, "required": 1,
                                          "reason": "prod takes approvals from carol only"}
    dave = p.run("approve", "1.0.0", "--env", "prod", "--by", "dave")
    assert dave.returncode == 3 and "takes approvals from carol only" in dave.stdout + dave.stderr


def test_deploy_json_is_printed_when_the_deployment_fails(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    project.ok("deploy", "1.0.0", "--to", "dev")
    project.build("broken")
    project.ok("release", "create", "1.1.0")
    result = project.run("deploy", "1.1.0", "--to", "dev", "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["deployment"]["status"] == "failed" and data["deployment"]["version"] == "1.1.0"
    assert data["rollback"]["status"] == "succeeded" and data["rollback"]["kind"] == "rollback"


def test_a_closed_stdout_never_fails_a_deployment(bare_project: Project) -> None:
    p = bare_project
    p.write("trainmaster.yaml", """\
        project: demo
        packages: {app: app.bin}
        train:
          - name: dev
            deploy: "for i in 1 2 3 4 5; do echo line $i; sleep 0.1; done"
        """)
    p.write("app.bin", "x")
    p.ok("release", "create", "1.0.0")
    pipe = subprocess.run(f"{sys.executable} -m trainmaster deploy 1.0.0 --to dev | head -1", shell=True,
                          cwd=p.root, env=p.env, capture_output=True, text=True, timeout=60)
    assert pipe.stdout.strip().startswith("deploy demo 1.0.0")
    assert [d["status"] for d in p.json("history")["deployments"]] == ["succeeded"]


def test_a_state_dir_that_cannot_be_created_is_exit_2(project: Project) -> None:
    config = (project.root / "trainmaster.yaml").read_text()
    project.write("trainmaster.yaml", "state_dir: build/app.bin/state\n" + config)
    result = project.run("status")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "Not a directory" in result.stderr


def test_a_corrupt_or_newer_ledger_is_exit_4(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    db = project.state / "ledger.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    newer = project.run("status")
    assert newer.returncode == 4 and "newer than this trainmaster knows" in newer.stderr
    for extra in ("-wal", "-shm"):
        (project.state / f"ledger.db{extra}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    corrupt = project.run("status")
    assert corrupt.returncode == 4 and "the ledger cannot be read" in corrupt.stderr
    assert "Traceback" not in corrupt.stderr


def test_validate_creates_no_ledger(project: Project) -> None:
    project.ok("validate")
    assert not (project.state / "ledger.db").exists()


def test_a_shared_state_dir_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.project import base_env as _base_env

    projects = []
    for name in ("alpha", "beta"):
        p = Project(tmp_path / name, _base_env(tmp_path))
        p.root.mkdir()
        p.write("trainmaster.yaml", f"""\
            project: {name}
            state_dir: ../shared
            packages: {{app: app.bin}}
            train: [{{name: dev, deploy: "true"}}]
            """)
        p.write("app.bin", name)
        projects.append(p)
    projects[0].ok("release", "create", "1.0.0")
    result = projects[1].run("release", "create", "1.0.0")
    assert result.returncode == 2 and "already holds the ledger of project 'alpha'" in result.stderr


def test_an_environment_with_nothing_to_run_is_a_config_error(bare_project: Project) -> None:
    p = bare_project
    p.write("trainmaster.yaml", "project: demo\npackages: {app: app.bin}\ntrain: [{name: dev}]\n")
    p.write("app.bin", "x")
    result = p.run("validate")
    assert result.returncode == 2 and "has no deploy command" in result.stderr
    assert result.stderr.startswith("error: trainmaster.yaml:3:")


def test_utc_windows_need_no_time_zone_database(bare_project: Project) -> None:
    p = bare_project
    p.write("trainmaster.yaml", """\
        project: demo
        packages: {app: app.bin}
        train:
          - name: dev
            deploy: "true"
            windows: [{days: [mon, tue, wed, thu, fri, sat, sun], hours: "00:00-24:00"}]
        """)
    p.write("app.bin", "x")
    p.ok("release", "create", "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "dev", env={"PYTHONTZPATH": "/nonexistent"})


def test_approve_where_none_are_needed_says_so_and_records_nothing(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    before = project.snapshot()
    result = project.ok("approve", "1.0.0", "--env", "dev", "--by", "bob")
    assert "dev needs no approvals" in result.stdout and "1/0" not in result.stdout
    assert project.snapshot() == before


def test_a_package_name_the_config_does_not_declare_is_a_typo(project: Project) -> None:
    project.write("new.bin", "new")
    before = project.snapshot()
    typo = project.run("release", "create", "2.0.0", "--package", "ap=new.bin")
    assert typo.returncode == 2 and "did you mean 'app'?" in typo.stderr and "--allow-undeclared" in typo.stderr
    assert project.snapshot() == before
    added = json.loads(project.ok("release", "create", "2.0.0", "--package", "extra=new.bin",
                                  "--allow-undeclared", "--json").stdout)
    assert [p["name"] for p in added["release"]["packages"]] == ["app", "extra"]


def test_windows_accept_ranges_inside_lists(bare_project: Project) -> None:
    """The README's form ``days: [mon-fri]`` is valid, and so is a list mixing days and ranges."""
    bare_project.write("trainmaster.yaml", """\
        project: demo
        packages: {app: app.bin}
        train:
          - name: prod
            deploy: "true"
            windows: [{days: [mon-fri, sun], hours: "00:00-24:00", timezone: UTC}]
        """)
    bare_project.write("app.bin", "x")
    assert bare_project.run("validate").returncode == 0, bare_project.run("validate").stderr


def test_deploy_json_carries_the_remote_references_as_history_does(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    deployed = json.loads(project.ok("deploy", "1.0.0", "--to", "dev", "--json").stdout)
    assert deployed["deployment"]["remote"] == {}
    history = json.loads(project.ok("history", "--json").stdout)["deployments"]
    assert set(history[0]) == set(deployed["deployment"])
