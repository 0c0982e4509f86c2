"""Set up the action's private virtual environment (run by action.yml, standard library only).

``python _bootstrap.py prepare`` writes the venv directory and the cache key to
``$GITHUB_OUTPUT``. The directory is named after the hash of the action's sources,
so two versions of the action used in one job never share (or overwrite) a venv;
``python _bootstrap.py install`` makes sure the venv imports
trainmaster (after a cache restore it usually does), otherwise creates it and
installs the action's own code from ``$GITHUB_ACTION_PATH``, and writes the
venv's interpreter as the ``python`` output. Paths use forward slashes, which
bash understands on Linux, macOS and Windows (Git Bash) alike.
"""

from __future__ import annotations

import hashlib
import os
import platform
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

CACHE_VERSION = "v1"
_HASHED_SUFFIXES = (".py", ".json", ".toml", ".typed")
LOCK = "requirements/action.txt"  # hash-pinned dependencies of the action's venv


def _fail(message: str) -> None:
    print(f"::error title=trainmaster action::{message}", flush=True)
    raise SystemExit(2)


def _output(name: str, value: str) -> None:
    path = os.environ.get("GITHUB_OUTPUT") or ""
    if not path:
        _fail("GITHUB_OUTPUT is not set: this script runs inside a GitHub Actions step")
    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    with open(path, "a", encoding="utf-8", newline="\n") as fh:
        fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def action_path() -> Path:
    raw = os.environ.get("GITHUB_ACTION_PATH")
    if not raw:
        _fail("GITHUB_ACTION_PATH is not set: this script runs as a step of the trainmaster action")
    return Path(str(raw))


def source_hash(root: Path) -> str:
    """sha256 over pyproject.toml and every source file of the core and the bundled plugins."""
    digest = hashlib.sha256()
    files = [root / "pyproject.toml", root / LOCK]
    for top in ("src", "plugins"):
        if (root / top).is_dir():
            files += sorted(
                p
                for p in (root / top).rglob("*")
                if p.is_file() and p.suffix in _HASHED_SUFFIXES and "__pycache__" not in p.parts
            )
    for path in files:
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:32]


def venv_python(venv: Path) -> Path:
    scripts = venv / "Scripts" / "python.exe"
    return scripts if scripts.exists() or os.name == "nt" else venv / "bin" / "python"


def prepare() -> None:
    temp = os.environ.get("RUNNER_TEMP") or os.environ.get("TMPDIR") or "/tmp"
    sources = source_hash(action_path())
    venv = Path(temp) / f"trainmaster-venv-{sources[:16]}"
    version = ".".join(platform.python_version_tuple()[:2])
    key = "-".join(
        [
            "trainmaster-venv",
            CACHE_VERSION,
            os.environ.get("RUNNER_OS", sys.platform),
            os.environ.get("RUNNER_ARCH", platform.machine()),
            f"py{version}",
            sources,
        ]
    )
    _output("dir", venv.as_posix())
    _output("key", key)
    _output("python-version", version)


def pip_commands(python: Path, root: Path) -> list[list[str]]:
    """Install the hash-pinned dependencies (``requirements/action.txt``), then the action's own code."""
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input", "install", "--quiet"]
    return [
        [*pip, "--require-hashes", "--only-binary", ":all:", "-r", str(root / LOCK)],
        [*pip, "--no-deps", "--no-build-isolation", str(root)],
    ]


def _works(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-c", "import trainmaster, trainmaster_github"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return probe.returncode == 0


def install(venv: Path) -> None:
    python = venv_python(venv)
    if not _works(python):
        print(f"::group::install trainmaster into {venv.as_posix()}", flush=True)
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = venv_python(venv)
        for command in pip_commands(python, action_path()):
            result = subprocess.run(command, check=False)
            if result.returncode != 0:
                break
        print("::endgroup::", flush=True)
        if result.returncode != 0 or not _works(python):
            _fail(
                f"could not install trainmaster from {action_path().as_posix()} (pip exit "
                f"{result.returncode}); see the log group above"
            )
    _output("python", python.as_posix())


def main(argv: list[str]) -> None:
    if argv[:1] == ["prepare"]:
        prepare()
    elif argv[:1] == ["install"] and len(argv) == 2:
        install(Path(argv[1]))
    else:
        _fail("usage: _bootstrap.py prepare | install VENV_DIR")


if __name__ == "__main__":
    main(sys.argv[1:])
