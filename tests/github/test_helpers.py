"""The shared github test helpers build a project the adapter accepts."""

from __future__ import annotations

from pathlib import Path

from tests.support.github import load, make_project, release


def test_helpers_build_a_valid_project(tmp_path: Path) -> None:
    config = load(make_project(tmp_path))
    rel, files = release(tmp_path)
    assert config.plugin_settings["github"]["repository"] == "acme/app"
    assert [p.name for p in rel.packages] == list(files) and rel.id.startswith("sha256:")


def test_a_release_asset_list_is_data_an_entry_without_a_name_is_not_an_asset() -> None:
    """GitHub answers are untrusted: a malformed entry is skipped, never a KeyError traceback."""
    from trainmaster_github._publish import _by_name

    good = {"name": "app.bin", "id": 1}
    assert _by_name(iter([{"id": 2}, "app.bin", None, {"name": 3}, good])) == {"app.bin": good}
