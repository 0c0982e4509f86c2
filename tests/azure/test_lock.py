"""The Azure task installs hash-pinned dependencies (requirements/azure-task.txt), then its wheel without deps.

The shim's side (the pip calls, the cache key) is in the mocha L0 tests of azure-pipelines-task;
here: the lock covers trainmaster[azure], and a real ``pip install --require-hashes`` from it works.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "azure-task.txt"


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _locked() -> dict[str, list[str]]:
    entries: dict[str, list[str]] = {}
    for block in re.split(r"\n(?=[a-z0-9])", LOCK.read_text()):
        match = re.match(r"([a-z0-9][a-z0-9._-]*)==(\S+)", block)
        if match:
            entries[match[1].lower().replace("_", "-")] = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
    return entries


def _fresh_venv(tmp_path: Path) -> Path:
    """A new venv without pip of its own (installing pip into it, as ``python -m venv`` does, costs seconds)."""
    venv.create(tmp_path / "venv", with_pip=False)
    return tmp_path / "venv" / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def _pip_into(python: Path) -> list[str]:
    """``pip install`` into the venv of ``python``: this venv's pip, run by that interpreter (``pip --python``);
    ``--no-compile``: the few modules the test imports are compiled when imported, not all of azure-devops."""
    return [sys.executable, "-m", "pip", "--python", str(python), "install", "--disable-pip-version-check",
            "--no-input", "--no-compile"]


def test_every_dependency_of_trainmaster_azure_is_pinned_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(d) for d in [*project["dependencies"], *project["optional-dependencies"]["azure"]]}
    locked = _locked()
    assert wanted <= set(locked), wanted - set(locked)
    assert all(hashes for hashes in locked.values()), [n for n, h in locked.items() if not h]
    assert "azure-devops" in wanted and "msrest" in locked, "the lock holds the transitive dependencies too"


def test_an_install_that_requires_hashes_succeeds_from_the_lock(tmp_path: Path) -> None:
    """What the shim runs first, for real, into a fresh venv (pip uses this machine's configured indexes)."""
    python = _fresh_venv(tmp_path)
    done = subprocess.run([*_pip_into(python), "--quiet", "--require-hashes", "--only-binary", ":all:", "-r",
                           str(LOCK)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    probe = subprocess.run([str(python), "-c", "import azure.devops.connection, msrest, yaml, pluggy, click, requests"],
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr


def test_a_file_whose_hash_is_not_in_the_lock_is_refused(tmp_path: Path) -> None:
    """The control: with azure-devops's hashes changed, the same kind of install fails (the hashes pin it)."""
    (block,) = [b for b in re.split(r"\n(?=[a-z0-9])", LOCK.read_text()) if b.startswith("azure-devops==")]
    tampered = tmp_path / "lock.txt"
    tampered.write_text(re.sub(r"sha256:[0-9a-f]{64}", "sha256:" + "0" * 64, block) + "\n")
    python = _fresh_venv(tmp_path)
    done = subprocess.run([*_pip_into(python), "--require-hashes", "--only-binary", ":all:", "--no-deps", "-r",
                           str(tampered)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode != 0 and "THESE PACKAGES DO NOT MATCH THE HASHES" in done.stderr, done.stderr
