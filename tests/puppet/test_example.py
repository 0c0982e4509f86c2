"""examples/puppet-enterprise runs as documented: ``run.sh URL PORT`` against ``python -m tests.fakes.puppet``."""

from __future__ import annotations

from pathlib import Path

from tests.support.examples import fake_process, run_example


def test_the_example_promotes_through_code_manager_and_orchestrator_jobs(tmp_path: Path):
    with fake_process("puppet") as fake:
        done = run_example("puppet-enterprise", fake.url, fake.port, tmp=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "of 1.0.0 to prod succeeded" in done.stdout + done.stderr
        ops = fake.operations()
        assert ops.count("command-deploy") == 3 and ops.count("code-manager-deploys") == 3
        assert fake.admin("violations") == []
