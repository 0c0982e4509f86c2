"""Repository-wide pytest configuration: registers the contract-checking fakes (tests/fakes/README.md)
and compiles the code the tests run into bytecode once per session.

Most tests start ``python -m trainmaster`` (and the fakes) in subprocesses whose environment sets
``PYTHONDONTWRITEBYTECODE=1`` (tests/support/project.py), so no subprocess ever writes a ``.pyc``: a
module no test imports in-process (most adapter modules, the rollout, the board, the webhooks) was
compiled from source again by each of the ~1,500 subprocesses. ``pytest_configure`` compiles src/,
plugins/ and tests/ up front (``compileall`` skips what is up to date; Python checks each ``.pyc``
against its source's mtime and size, so a stale one is never used), and the test processes cache
their assertion-rewritten test modules even when the shell exports ``PYTHONDONTWRITEBYTECODE``:
each pytest-xdist worker would otherwise rewrite and compile every test module again.
"""

from __future__ import annotations

import compileall
import re
import sys
from pathlib import Path

import pytest

pytest_plugins = ["tests.fakes.plugin"]

_ROOT = Path(__file__).resolve().parent
_SKIP = re.compile(r"[/\\](node_modules|__pycache__)[/\\]")
sys.dont_write_bytecode = False  # the __pycache__ folders are ignored by git (.gitignore)


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the controller compiled before it started
        return
    for folder in ("src", "plugins", "tests"):
        if (_ROOT / folder).is_dir():
            compileall.compile_dir(_ROOT / folder, quiet=1, workers=1, rx=_SKIP)
