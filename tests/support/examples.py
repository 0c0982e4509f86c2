"""Run an example of examples/ as its docs say: its fake as a separate process, then ``sh run.sh …``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.project import host_env

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RunningFake:
    """A fake started with ``python -m tests.fakes.<module> --port 0``: its URL and port."""

    url: str
    port: str

    def admin(self, name: str) -> Any:
        """``GET /_fake/<name>`` (``calls``, ``violations``…) as JSON."""
        with urllib.request.urlopen(f"{self.url.rstrip('/')}/_fake/{name}", timeout=10) as answer:  # noqa: S310
            return json.loads(answer.read())

    def operations(self) -> list[str]:
        return [str(c["operation_id"]) for c in self.admin("calls")]


@contextmanager
def fake_process(module: str) -> Iterator[RunningFake]:
    """Start ``tests.fakes.<module>`` in its own process until the block ends."""
    proc = subprocess.Popen([sys.executable, "-m", f"tests.fakes.{module}", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # READY <name> <url> port=<port>
        assert line.startswith("READY "), line + (proc.stderr.read() if proc.stderr else "")
        words = line.split()
        yield RunningFake(words[2], words[3].removeprefix("port="))
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def run_example(name: str, *args: str, tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``sh examples/<name>/run.sh ARGS`` with this venv's ``trainmaster`` first on PATH."""
    bin_dir = Path(sys.executable).parent
    assert shutil.which("trainmaster", path=str(bin_dir)), "the test extra installs the trainmaster command"
    environ = host_env(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", TMPDIR=str(tmp), **env)
    for variable in ("TF_API_TOKEN", "TFE_TOKEN", "CONTROLLER_OAUTH_TOKEN", "CONTROLLER_HOST", "PE_TOKEN",
                     "PE_SERVER", "PE_CA_FILE"):
        if variable not in env:
            environ.pop(variable, None)
    return subprocess.run(["sh", str(ROOT / "examples" / name / "run.sh"), *args], env=environ,
                          capture_output=True, text=True, timeout=300)
