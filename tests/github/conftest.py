"""Fixtures of the GitHub adapter's tests (the GitHub fake itself comes from ``tests.fakes.plugin``)."""

from __future__ import annotations
