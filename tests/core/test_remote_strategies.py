"""A remote target that deploys a whole environment in one piece of work refuses ``instances`` and
``strategy`` (exit 2 at that key's line, naming the target) before anything changes, instead of
deploying and warning afterwards that the strategy was ignored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.project import Project

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("example, target, package", [
    ("awx", "awx", "app.bin"),
    ("puppet-enterprise", "puppet-enterprise", "app.bin"),
    ("terraform-cloud", "terraform-cloud", "infra.tar.gz"),
])
@pytest.mark.parametrize("block", ["    instances: [web-1, web-2]\n", "    strategy: {rolling: {batch: 1}}\n"])
def test_a_strategy_on_a_remote_target_is_exit_2_at_its_key(
    bare_project: Project, example: str, target: str, package: str, block: str
) -> None:
    p = bare_project
    text = (ROOT / "examples" / example / "trainmaster.yaml").read_text()
    p.write("trainmaster.yaml", text.replace("  - name: dev\n", "  - name: dev\n" + block, 1))
    p.write(package, "x")
    line = text.splitlines().index("  - name: dev") + 2  # the key's own line, not the environment's
    env = {"TRAINMASTER_LOAD_PLUGINS": target, "CONTROLLER_HOST": "https://awx.invalid",
           "CONTROLLER_OAUTH_TOKEN": "t", "PE_SERVER": "https://pe.invalid", "PE_TOKEN": "t", "TF_API_TOKEN": "t"}
    p.ok("release", "create", "1.0.0", env=env)
    for args in (("validate",), ("deploy", "1.0.0", "--to", "dev")):  # no network is tried: no exit 5
        out = p.run(*args, env=env)
        assert out.returncode == 2, out.stderr
        assert f"trainmaster.yaml:{line}:" in out.stderr and f"target {target!r}" in out.stderr
        assert "cannot apply" in out.stderr and "Traceback" not in out.stderr
    assert json.loads(p.ok("history", "--json", env=env).stdout)["deployments"] == []  # nothing was recorded
