"""Shared by the plugin and hook tests: an in-process CLI runner, a tiny project, a fresh plugin manager."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy
import pytest
from click.testing import CliRunner

from trainmaster.plugins import get_plugin_manager, reset_plugin_manager

CONFIG = """\
project: demo
packages: {app: app.bin}
train:
  - name: dev
    deploy: "true"
"""


PAYLOAD = b"the built artefact\n"


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_cli(config: Path, *args: str, env: Mapping[str, str | None] | None = None) -> Run:
    """Run ``trainmaster --config CONFIG ARGS`` in-process through ``trainmaster.cli.main``."""
    from trainmaster.cli import main

    environ: dict[str, str | None] = {"CI": None, "GITHUB_ACTIONS": None, "TF_BUILD": None}
    environ.update(env or {})
    runner = CliRunner()
    code: int | str | None = 0
    with runner.isolation(env=environ) as streams:
        try:
            main(["--config", str(config), *args])
        except SystemExit as exc:
            code = exc.code
        sys.stdout.flush()  # emit_json writes to sys.stdout without flushing
        sys.stderr.flush()
        out, err = streams[0].getvalue(), streams[1].getvalue()
    assert isinstance(code, int), code
    return Run(code, out.decode(), err.decode())


def make_project(root: Path, extra: str = "", config: str = CONFIG) -> Path:
    """A project in ``root`` with one artefact; returns the config's path."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.bin").write_bytes(PAYLOAD)
    path = root / "trainmaster.yaml"
    path.write_text(config + extra)
    return path


@pytest.fixture(autouse=True)
def fresh_plugin_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh manager with the built-in plugins only (no installed entry points), for every test."""
    monkeypatch.setenv("TRAINMASTER_LOAD_PLUGINS", "")
    monkeypatch.delenv("TRAINMASTER_TRACE_PLUGINS", raising=False)
    reset_plugin_manager()
    try:
        yield
    finally:
        reset_plugin_manager()


@contextmanager
def registered(plugin: object, name: str) -> Iterator[pluggy.PluginManager]:
    """Register ``plugin`` for one test (inside a yield fixture); unregistered by name afterwards."""
    pm = get_plugin_manager()
    pm.register(plugin, name=name)
    try:
        yield pm
    finally:
        pm.unregister(name=name)
        assert pm.get_plugin(name) is None


def _dist(site: Path, name: str, module: str, source: str | None) -> None:
    """A real installed distribution: ``<name>-1.0.dist-info`` with an entry point ``name = module``."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[trainmaster]\n{name} = {module}\n")
    if source is not None:
        (site / f"{module}.py").write_text(textwrap.dedent(source))


GOOD_PLUGIN = """
from trainmaster import hookimpl

@hookimpl
def register_publishers(register):
    register({name!r}, lambda config: object())
"""


def _subprocess(config: Path, site: Path, *args: str, **env: str) -> Run:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRAINMASTER_")}
    environ.update(env, PYTHONPATH=os.pathsep.join([str(site), environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "trainmaster", "--config", str(config), *args],
                          capture_output=True, text=True, env=environ, cwd=config.parent, timeout=60)
    return Run(proc.returncode, proc.stdout, proc.stderr)


