"""The shared github test helpers build a project the adapter accepts."""

from __future__ import annotations

from pathlib import Path

from tests.support.github import load, make_project, release


def test_helpers_build_a_valid_project(tmp_path: Path) -> None:
    config = load(make_project(tmp_path))
    rel, files = release(tmp_path)
    assert config.plugin_settings["github"]["repository"] == "acme/app"
    assert [p.name for p in rel.packages] == list(files) and rel.id.startswith("sha256:")
