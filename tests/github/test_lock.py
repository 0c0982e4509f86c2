"""The action installs hash-pinned dependencies (requirements/action.txt), then its own code without deps."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from trainmaster_github._bootstrap import LOCK, pip_commands, source_hash

ROOT = Path(__file__).resolve().parents[2]


def _locked() -> dict[str, list[str]]:
    text = (ROOT / LOCK).read_text()
    entries: dict[str, list[str]] = {}
    for block in re.split(r"\n(?=[a-z0-9])", text):
        match = re.match(r"([a-z0-9][a-z0-9._-]*)==(\S+)", block)
        if match:
            entries[match[1].lower().replace("_", "-")] = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
    return entries


def test_every_runtime_dependency_and_the_build_backend_are_pinned_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0].lower() for d in project["project"]["dependencies"]}
    wanted.add("hatchling")
    locked = _locked()
    assert wanted <= set(locked), wanted - set(locked)
    assert all(hashes for hashes in locked.values()), [n for n, h in locked.items() if not h]


def test_the_install_requires_hashes_and_installs_the_action_without_dependencies(tmp_path: Path) -> None:
    first, second = pip_commands(tmp_path / "python", ROOT)
    assert "--require-hashes" in first and first[-1] == str(ROOT / LOCK)
    assert {"--no-deps", "--no-build-isolation"} <= set(second) and second[-1] == str(ROOT)


def test_the_cache_key_changes_with_the_lock(tmp_path: Path) -> None:
    (tmp_path / "requirements").mkdir()
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / LOCK).write_text("pluggy==1.0 --hash=sha256:" + "0" * 64 + "\n")
    before = source_hash(tmp_path)
    (tmp_path / LOCK).write_text("pluggy==1.1 --hash=sha256:" + "1" * 64 + "\n")
    assert source_hash(tmp_path) != before
