"""The core's tests use the CLI fixtures of ``tests/conftest.py``; in-process plugin tests take
``tests.support.plugins.fresh_plugin_manager`` into their module (it is autouse there)."""

from __future__ import annotations
