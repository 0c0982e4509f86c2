"""The documented strategy examples run as a new user would run them, and do what they say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"


@pytest.mark.parametrize("name", ["rolling", "blue-green", "canary"])
def test_example_runs(name: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAINMASTER", "GITHUB", "TF_BUILD"))}
    env.update(TRAINMASTER=f"{sys.executable} -m trainmaster", TMPDIR=str(tmp_path), TRAINMASTER_LOAD_PLUGINS="")
    env.pop("CI", None)
    result = subprocess.run(["sh", str(EXAMPLES / name / "run.sh")], env=env, capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    work = Path(re.findall(r"example finished in (\S+)", result.stdout)[-1])
    servers = work / "servers"
    if name == "blue-green":
        assert os.readlink(servers / "live") == "blue"
        assert (servers / "blue" / "VERSION").read_text().strip() == "1.0.0"
        assert "prod: 1.2.0 on 0 of 1 instance, blue_green (live slot blue: 1.0.0)" in result.stdout
    else:
        held = {p.parent.name: p.read_text().strip() for p in servers.glob("web-*/VERSION")}
        assert held == {f"web-{i}": "1.0.0" for i in range(1, 5)}
        assert f"prod: 1.0.0 on 4 of 4 instances, {name}" in result.stdout
    if name == "canary":
        routes = (servers / "routing.log").read_text().splitlines()
        assert routes[-2:] == ["route 1.1.0 weight=25 canary=web-1", "route 1.1.0 weight=0 canary="]
