"""The ``awx:`` block: one template kind per environment, an environment's choice replacing the top-level one."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainmaster.config import load_config
from trainmaster.errors import ConfigError
from trainmaster_awx._settings import SCHEMA, Settings

CONFIG = """\
project: demo
packages:
  app: app.bin
awx:
  job_template: deploy-app
defaults:
  target: awx
train:
  - name: dev
  - name: prod
    awx: {workflow_job_template: release-with-approval}
"""


def _load(tmp_path: Path, text: str):
    (tmp_path / "app.bin").write_bytes(b"x")
    path = tmp_path / "trainmaster.yaml"
    path.write_text(text)
    return load_config(path, plugin_schemas={"awx": SCHEMA})


def test_an_environment_may_choose_a_workflow_instead_of_the_top_level_job_template(tmp_path):
    config = _load(tmp_path, CONFIG)
    assert Settings.resolve(config, config.environment("dev")).template == ("job_template", "deploy-app")
    assert Settings.resolve(config, config.environment("prod")).template == (
        "workflow_job_template", "release-with-approval")


def test_both_kinds_in_one_block_or_none_is_a_located_config_error(tmp_path):
    both = CONFIG.replace("  job_template: deploy-app\n", "  job_template: deploy-app\n  workflow_job_template: 3\n")
    config = _load(tmp_path, both)
    with pytest.raises(ConfigError, match="exactly one of awx.job_template") as err:
        Settings.resolve(config, config.environment("dev"))
    assert err.value.line is not None
    config = _load(tmp_path, CONFIG.replace("  job_template: deploy-app\n", "  poll_interval: 1\n"))
    with pytest.raises(ConfigError, match="exactly one"):
        Settings.resolve(config, config.environment("dev"))
