"""The shared azure test helpers build a project the adapter accepts."""

from __future__ import annotations

from pathlib import Path

from tests.support.azure import load, make_project, release


def test_helpers_build_a_valid_project(tmp_path: Path) -> None:
    config = load(make_project(tmp_path, "http://127.0.0.1:1/myorg"))
    rel = release(tmp_path)
    assert config.plugin_settings["azure-devops"]["definition"] == "app-release"
    assert rel.package("app") is not None and rel.id.startswith("sha256:")
