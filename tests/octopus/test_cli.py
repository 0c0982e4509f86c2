"""End to end: the real ``trainmaster`` CLI (subprocesses) with the Octopus adapter and the Octopus fake.

The project and its ``run`` are :func:`tests.support.octopus_cli.cli_project`.
"""

from __future__ import annotations

import json

import pytest

from tests.support.octopus_cli import CONFIG, cli_project


@pytest.fixture
def project(tmp_path, octopus_fake):
    return cli_project(tmp_path, octopus_fake)


def test_release_deploy_and_sync_check_through_the_cli(project):
    run, _, fake = project
    assert run("validate").returncode == 0
    first = run("release", "create", "1.0.0")
    assert first.returncode == 0, first.stderr
    assert "octopus: created" in first.stdout
    again = run("release", "create", "1.0.0")
    assert again.returncode == 0 and "octopus: exists" in again.stdout
    dep = run("deploy", "1.0.0", "--to", "dev")
    assert dep.returncode == 0, dep.stderr
    assert "succeeded" in dep.stdout
    assert run("sync", "--to", "octopus", "--check").returncode == 0
    assert len(fake.packages) == 1 and len(fake.releases) == 1 and len(fake.deployments) == 1
    bad = run("sync", "--to", "octopus", "--check", OCTOPUS_API_KEY="API-NOTTHEKEY123")
    assert bad.returncode == 2 and "OCTOPUS_API_KEY" in bad.stderr
    assert "API-NOTTHEKEY123" not in bad.stdout + bad.stderr
    assert fake.api_key not in "".join(r.stdout + r.stderr for r in (first, again, dep, bad))


def test_validate_exits_2_for_an_environment_missing_from_the_lifecycle(project):
    run, work, fake = project
    fake.seed_environment("Staging")
    text = CONFIG.replace("  - name: test\n", "  - name: staging\n  - name: test\n")
    (work / "trainmaster.yaml").write_text(text)
    out = run("validate")
    assert out.returncode == 2
    assert "missing from lifecycle" in out.stderr and "add it to a phase" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_deployment_that_never_finishes_is_cancelled_on_timeout_exit_5(project):
    run, work, fake = project
    settings = "  poll_interval: 0.05\n  timeout: 0.5\n  cancel_on_timeout: true\n"
    text = CONFIG.replace("  poll_interval: 0.05\n", settings)
    (work / "trainmaster.yaml").write_text(text)
    assert run("release", "create", "1.0.0").returncode == 0
    fake.stall_next_deployment()
    dep = run("deploy", "1.0.0", "--to", "dev")
    (task_id,) = fake.tasks
    assert dep.returncode == 5, dep.stderr
    assert "did not finish within 0.5s and were cancelled" in dep.stderr and "Traceback" not in dep.stderr
    assert fake.tasks[task_id]["State"] == "Canceled" and fake.count("createTaskCancel_Spaces") == 1


def test_an_invalid_package_id_in_an_environment_is_exit_2_at_its_place_and_nothing_is_pushed(project):
    run, work, fake = project
    text = CONFIG.replace("  - name: test\n", "  - name: test\n    octopus:\n      packages: {app: App.2x}\n")
    (work / "trainmaster.yaml").write_text(text)
    out = run("validate")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    line = text.splitlines().index("      packages: {app: App.2x}") + 1
    assert f"trainmaster.yaml:{line}:" in out.stderr and "'App.2x'" in out.stderr, out.stderr
    assert not fake.packages and not fake.releases


@pytest.mark.parametrize("block", ["    instances: [web-1, web-2]\n",
                                   "    strategy: {rolling: {batch: 1}}\n"])
def test_a_strategy_on_an_octopus_environment_is_exit_2_naming_the_target_and_nothing_changes(project, block):
    """Octopus deploys to every machine of its environment in one task: trainmaster refuses the strategy
    (at validate and at deploy) instead of warning after a deployment that ignored it."""
    run, work, fake = project
    assert run("release", "create", "1.0.0").returncode == 0
    text = CONFIG.replace("  - name: dev\n", "  - name: dev\n" + block)
    (work / "trainmaster.yaml").write_text(text)
    line = text.splitlines().index("  - name: dev") + 2  # the strategy's (or instances') own line
    for args in (("validate",), ("deploy", "1.0.0", "--to", "dev")):
        out = run(*args)
        assert out.returncode == 2, out.stderr
        assert f"trainmaster.yaml:{line}:" in out.stderr and "target 'octopus'" in out.stderr
        assert "cannot apply" in out.stderr and "Traceback" not in out.stderr
    assert not fake.deployments
    status = json.loads(run("status", "--json").stdout)
    assert status["environments"][0]["deployment"] is None  # the ledger holds no deployment either
