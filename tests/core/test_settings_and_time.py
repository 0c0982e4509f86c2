"""A plugin's settings block carries where each key was written; one timestamp format for every time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from trainmaster.config import load_config
from trainmaster.config.settings import settings_block
from trainmaster.errors import ConfigError, IntegrityError
from trainmaster.model import remote_timestamp, timestamp

SCHEMA = {"acme": {"type": "object", "properties": {"url": {"type": "string"}, "space": {"type": "string"},
                                                    "timeout": {"type": "string"}}}}
CONFIG = """\
project: demo
packages:
  app: app.bin
acme:
  url: https://acme.example
  space: Default
defaults:
  acme:
    timeout: 5m
train:
  - name: dev
  - name: prod
    acme:
      space: Production
"""


def _config(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "trainmaster.yaml").write_text(CONFIG)
    return load_config(tmp_path / "trainmaster.yaml", plugin_schemas=SCHEMA, display_path="trainmaster.yaml")


def _located(error: ConfigError) -> tuple[str | None, int | None, int | None, str | None]:
    return error.file, error.line, error.column, error.key


def test_an_error_points_at_the_key_that_set_the_value(tmp_path: Path) -> None:
    config = _config(tmp_path)
    dev, prod = config.environments
    top, in_dev, in_prod = settings_block(config, "acme"), settings_block(config, "acme", dev), \
        settings_block(config, "acme", prod)
    assert dict(in_prod) == {"url": "https://acme.example", "space": "Production", "timeout": "5m"}
    assert in_dev["space"] == "Default" and top.get("timeout") is None
    assert _located(in_prod.error("unknown space", "space")) == ("trainmaster.yaml", 14, 7, "acme.space")
    assert _located(in_dev.error("unknown space", "space")) == ("trainmaster.yaml", 6, 3, "acme.space")
    assert _located(in_dev.error("too long", "timeout")) == ("trainmaster.yaml", 9, 5, "acme.timeout")
    error = top.error("no token for this server", "url")
    assert _located(error) == ("trainmaster.yaml", 5, 3, "acme.url")
    assert str(error).startswith("trainmaster.yaml:5:3: no token for this server")


def test_a_key_nobody_wrote_points_at_the_block_or_the_environment(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert _located(settings_block(config, "acme").error("no project", "project")) == \
        ("trainmaster.yaml", 4, 1, "acme.project")
    dev = config.environments[0]
    unset = settings_block(config, "other", dev)
    assert len(unset) == 0
    assert _located(unset.error("set other.url", "url")) == ("trainmaster.yaml", 11, 5, "other.url")
    assert _located(settings_block(config, "other").error("set other.url", "url"))[1:] == (None, None, "other.url")


@pytest.mark.parametrize(("moment", "expected"), [
    ("2026-03-01T10:30:00+01:00", "2026-03-01T09:30:00.000Z"),  # Octopus: local offsets
    ("2026-03-01T09:30:00Z", "2026-03-01T09:30:00.000Z"),  # GitHub: seconds, Z
    ("2026-03-01T09:30:00.1234567Z", "2026-03-01T09:30:00.123Z"),
    (dt.datetime(2026, 3, 1, 9, 30), "2026-03-01T09:30:00.000Z"),  # Azure SDK: naive UTC
    (dt.datetime(2026, 3, 1, 4, 30, 0, 250000, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
     "2026-03-01T09:30:00.250Z"),
])
def test_every_time_has_one_format_that_sorts_as_text(moment: str | dt.datetime, expected: str) -> None:
    assert timestamp(moment) == expected


def test_now_is_in_the_same_format() -> None:
    before = dt.datetime.now(dt.UTC)
    text = timestamp()
    assert len(text) == len("2026-03-01T09:30:00.000Z") and text.endswith("Z")
    assert dt.datetime.fromisoformat(text) >= before.replace(microsecond=before.microsecond // 1000 * 1000)
    with pytest.raises(ValueError):
        timestamp("yesterday")


def test_a_remote_time_is_read_into_the_one_format_and_garbage_is_an_integrity_error() -> None:
    assert remote_timestamp("2026-03-01T09:30:00Z", "a GitHub deployment") == "2026-03-01T09:30:00.000Z"
    assert remote_timestamp(dt.datetime(2026, 3, 1, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))), "x") \
        == "2026-03-01T09:30:00.000Z"
    assert remote_timestamp(None, "x") is None and remote_timestamp("", "x") is None
    with pytest.raises(IntegrityError, match="an Octopus deployment has a time that is not ISO 8601: '1; rm'"):
        remote_timestamp("1; rm", "an Octopus deployment")
