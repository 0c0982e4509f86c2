"""The train's rules: order between stages, approvals, windows, freezes, soak, actors."""

from __future__ import annotations

import datetime as dt

from tests.support.project import Project


def test_a_release_enters_a_stage_only_after_the_previous_one(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    before = project.snapshot()
    skipped = project.run("deploy", "1.0.0", "--to", "test")
    assert skipped.returncode == 3
    assert "has not succeeded in dev" in skipped.stderr
    assert project.snapshot() == before  # nothing ran, nothing recorded
    assert not (project.root.parent / "servers" / "test").exists()
    project.ok("deploy", "1.0.0", "--to", "dev")
    project.ok("deploy", "1.0.0", "--to", "test")


def test_approvals_and_self_approval(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    project.ok("deploy", "1.0.0", "--to", "dev")
    project.ok("promote", "--from", "dev", "--to", "test")
    refused = project.run("deploy", "1.0.0", "--to", "prod")
    assert refused.returncode == 3 and "needs 1 approval" in refused.stderr
    import getpass

    me = getpass.getuser()
    self_approval = project.run("approve", "1.0.0", "--env", "prod", "--by", me)
    assert self_approval.returncode == 3 and "does not count" in self_approval.stdout
    assert project.run("deploy", "1.0.0", "--to", "prod").returncode == 3
    project.ok("approve", "1.0.0", "--env", "prod", "--by", "alice", "--comment", "CHG-1")
    again = project.ok("approve", "1.0.0", "--env", "prod", "--by", "alice")
    assert "already approved" in again.stdout
    project.ok("deploy", "1.0.0", "--to", "prod")


def test_self_approval_counts_when_allowed(bare_project: Project) -> None:
    import getpass

    p = bare_project
    p.write("trainmaster.yaml", """\
        project: demo
        packages: {app: app.bin}
        train:
          - name: prod
            deploy: "true"
            approvals: {count: 1}
            allow_self_approval: true
        """)
    p.write("app.bin", "x")
    p.ok("release", "create", "1.0.0")
    p.ok("approve", "1.0.0", "--env", "prod", "--by", getpass.getuser())
    p.ok("deploy", "1.0.0", "--to", "prod")


def test_approvals_from_a_named_group(bare_project: Project) -> None:
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
    assert p.run("approve", "1.0.0", "--env", "prod", "--by", "mallory").returncode == 3
    assert p.run("deploy", "1.0.0", "--to", "prod").returncode == 3
    p.ok("approve", "1.0.0", "--env", "prod", "--by", "carol")
    p.ok("deploy", "1.0.0", "--to", "prod")


def test_by_is_refused_inside_ci_and_the_actor_comes_from_ci(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    result = project.run("approve", "1.0.0", "--env", "prod", "--by", "alice", env={"CI": "true"})
    assert result.returncode == 2 and "--by is refused inside CI" in result.stderr


def _single_env(p: Project, extra: str) -> None:
    p.write("trainmaster.yaml", f"""\
        project: demo
        packages: {{app: app.bin}}
        train:
          - name: dev
            deploy: "true"
          - name: prod
            deploy: "true"
        {extra}
        """)
    p.write("app.bin", "x")


def test_windows_refuse_outside_and_allow_inside(bare_project: Project) -> None:
    """Hour-independent: the closed window is three days away whatever the hour; the open one is every day.
    Boundaries, time zones and DST are decided in-process with an injected clock (tests/core/test_gates.py)."""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    far = days[(dt.datetime.now(dt.UTC).weekday() + 3) % 7]  # neither yesterday, today nor tomorrow anywhere
    p = bare_project
    _single_env(p, f"    windows: [{{days: [{far}], hours: '00:00-24:00', timezone: UTC}}]")
    p.ok("release", "create", "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "dev")
    before = p.snapshot()
    refused = p.run("deploy", "1.0.0", "--to", "prod")
    assert refused.returncode == 3 and "outside its deployment windows" in refused.stderr
    assert p.snapshot() == before
    _single_env(p, "    windows: [{hours: '00:00-24:00', timezone: UTC}]")
    p.ok("deploy", "1.0.0", "--to", "prod")


def test_freeze(bare_project: Project) -> None:
    now = dt.datetime.now(dt.UTC)
    start, end = (now - dt.timedelta(hours=1)).isoformat(), (now + dt.timedelta(hours=1)).isoformat()
    p = bare_project
    _single_env(p, f"    freeze: [{{from: '{start}', to: '{end}'}}]")
    p.ok("release", "create", "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "dev")
    refused = p.run("deploy", "1.0.0", "--to", "prod")
    assert refused.returncode == 3 and "frozen" in refused.stderr


def test_soak_time_in_the_previous_stage(bare_project: Project) -> None:
    p = bare_project
    _single_env(p, "    soak: 2s")
    p.ok("release", "create", "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "dev")
    refused = p.run("deploy", "1.0.0", "--to", "prod")
    assert refused.returncode == 3 and "must soak" in refused.stderr
    import time

    time.sleep(2.1)
    p.ok("deploy", "1.0.0", "--to", "prod")


def test_stage_of_parallel_environments_with_require_any(bare_project: Project) -> None:
    p = bare_project
    p.write("trainmaster.yaml", """\
        project: demo
        packages: {app: app.bin}
        defaults: {deploy: "true"}
        train:
          - stage: regions
            require: any
            environments:
              - name: eu
              - name: us
                deploy: "false"
          - name: prod
        """)
    p.write("app.bin", "x")
    p.ok("release", "create", "1.0.0")
    assert p.run("deploy", "1.0.0", "--to", "prod").returncode == 3
    assert p.run("deploy", "1.0.0", "--to", "us").returncode == 1
    p.ok("deploy", "1.0.0", "--to", "eu")
    p.ok("deploy", "1.0.0", "--to", "prod")


def test_stage_with_require_all(bare_project: Project) -> None:
    p = bare_project
    p.write("trainmaster.yaml", """\
        project: demo
        packages: {app: app.bin}
        defaults: {deploy: "true"}
        train:
          - stage: regions
            environments: [{name: eu}, {name: us}]
          - name: prod
        """)
    p.write("app.bin", "x")
    p.ok("release", "create", "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "eu")
    refused = p.run("deploy", "1.0.0", "--to", "prod")
    assert refused.returncode == 3 and "all of us" in refused.stderr
    p.ok("deploy", "1.0.0", "--to", "us")
    p.ok("deploy", "1.0.0", "--to", "prod")


def test_environment_names_match_exactly(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    result = project.run("deploy", "1.0.0", "--to", "de")
    assert result.returncode == 2 and "did you mean 'dev'" in result.stderr
