"""Fixtures of the fakes' own tests: the fakes are registered for every folder by ``tests.fakes.plugin``."""

from __future__ import annotations
