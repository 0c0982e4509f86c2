"""Plugin commands (``register_commands``) from installed distributions, in real ``trainmaster`` subprocesses.

``trainmaster --help`` imports only the plugins whose source may define the hook;
these tests check that every plugin command is still listed and runs, that the
other plugins are still loaded by the commands that need them, and that a broken
plugin is still named.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.plugins import GOOD_PLUGIN, _dist, _subprocess, make_project

COMMAND_PLUGIN = """
import click

from trainmaster import hookimpl

@hookimpl
def register_commands(cli):
    @cli.command(name="acme-hello")
    @click.argument("who")
    def acme_hello(who):
        \"\"\"Say hello from the acme plugin.\"\"\"
        click.echo(f"hello {who} from acme")
"""

# A plugin without commands that leaves a trace when it is imported.
MARKED_PLUGIN = """
import os
from pathlib import Path

Path(os.environ["ACME_MARKER"]).write_text("imported")
""" + GOOD_PLUGIN.format(name="quiet-pub")


def test_help_lists_plugin_commands_and_skips_plugins_without_any(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _dist(site, "acme-cmd", "acme_cmd", COMMAND_PLUGIN)
    _dist(site, "acme-quiet", "acme_quiet", MARKED_PLUGIN)
    config = make_project(tmp_path / "project")
    marker = tmp_path / "imported"

    helped = _subprocess(config, site, "--help", ACME_MARKER=str(marker))
    assert helped.code == 0, helped.err
    assert "acme-hello" in helped.out and "Say hello from the acme plugin." in helped.out
    assert "release" in helped.out and "validate" in helped.out
    assert not marker.exists()  # listing commands did not import the plugin that has none

    ran = _subprocess(config, site, "acme-hello", "world", ACME_MARKER=str(marker))
    assert (ran.code, ran.out) == (0, "hello world from acme\n"), ran.err

    listed = _subprocess(config, site, "plugins", "--json", ACME_MARKER=str(marker))
    assert listed.code == 0, listed.err
    assert {"acme-cmd", "acme-quiet"} <= {p["name"] for p in listed.json()["plugins"]}
    assert "quiet-pub" in listed.json()["publishers"]
    assert marker.exists()


def test_help_honours_the_allow_list_and_tracing(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _dist(site, "acme-cmd", "acme_cmd", COMMAND_PLUGIN)
    config = make_project(tmp_path / "project")

    excluded = _subprocess(config, site, "--help", TRAINMASTER_LOAD_PLUGINS="")
    traced = _subprocess(config, site, "--help", TRAINMASTER_TRACE_PLUGINS="1")

    assert excluded.code == 0 and "acme-hello" not in excluded.out
    assert traced.code == 0 and "acme-hello" in traced.out
    assert "[trace] register_commands(cli) -> [" in traced.err and "acme-cmd" in traced.err


def test_broken_command_plugin_is_named(tmp_path: Path) -> None:
    """A plugin whose commands cannot be imported: --help still works; running its command names it."""
    site = tmp_path / "site"
    _dist(site, "acme-broken", "acme_broken", "import acme_sdk_not_installed_xyz\n" + COMMAND_PLUGIN)
    config = make_project(tmp_path / "project")

    helped = _subprocess(config, site, "--help")
    ran = _subprocess(config, site, "acme-hello", "world")
    listed = _subprocess(config, site, "plugins")

    assert helped.code == 0 and "validate" in helped.out and "acme-hello" not in helped.out
    assert ran.code == 2
    assert "plugin 'acme-broken' failed to load and was skipped: ModuleNotFoundError" in ran.err
    assert "No such command 'acme-hello'" in ran.err
    assert "plugin acme-broken FAILED TO LOAD: ModuleNotFoundError" in listed.out
    assert "Traceback" not in helped.err + ran.err + listed.err


def test_help_reports_a_misspelt_command_hook(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _dist(site, "acme-typo", "acme_typo", COMMAND_PLUGIN.replace("def register_commands", "def register_command"))
    config = make_project(tmp_path / "project")

    helped = _subprocess(config, site, "--help")

    assert helped.code == 2
    assert "acme-typo" in helped.err and "did you mean register_commands?" in helped.err
    assert "Traceback" not in helped.err
