"""``trainmaster init``: a commented starter ``trainmaster.yaml`` and its schema, never overwriting."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from trainmaster.errors import InvalidInput

SCHEMA_FILE = "trainmaster.schema.json"

TEMPLATE = """\
# yaml-language-server: $schema=./{schema}
# trainmaster: build once, deploy many. Reference: `trainmaster schema`, the README, and
# `trainmaster validate` to check this file (every error with its line and column).
project: {project}

# Packages: name -> a path or a glob matching exactly one file, relative to this file.
# `trainmaster release create VERSION` pins each one by its sha256 digest.
packages:
  app: build/app.bin

# Defaults for every environment (any environment key may be set here).
defaults:
  target: local
  # Runs with $TRAINMASTER_PACKAGE_APP (the verified file), $TRAINMASTER_VERSION,
  # $TRAINMASTER_ENVIRONMENT and the environment's variables in its environment.
  deploy: echo "deploying $TRAINMASTER_VERSION to $TRAINMASTER_ENVIRONMENT from $TRAINMASTER_PACKAGE_APP"
  # smoke: sh smoke.sh          # run after deploy; its failure fails the deployment
  on_failure: rollback          # or stop
  # pass_env: [HOME]            # runner variables passed through to the commands

# The train: a release enters an environment only after it succeeded in the one before.
train:
  - name: dev
    variables: {{GREETING: hello-dev}}
  - name: test
    variables: {{GREETING: hello-test}}
  - name: prod
    approvals: 1                # `trainmaster approve VERSION --env prod` by someone else than the creator
    # windows: [{{days: mon-fri, hours: "09:00-16:00", timezone: UTC}}]
    # soak: 30m                   # time the release must have spent in test
    variables:
      GREETING: hello-prod
      # DB_PASSWORD: {{secret: env:PROD_DB_PASSWORD}}   # secrets are references, never values

# retention: {{keep: 20}}         # what `trainmaster gc` keeps (plus what is deployed and its rollback targets)
"""


def default_project(folder: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", folder.name).strip("-._")
    return name or "app"


def _create(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def write_starter(config: Path, project: str | None, schema: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``config`` and the schema beside it; exit 2 (nothing written) if either exists."""
    from trainmaster.model import check_name

    target_schema = config.parent / SCHEMA_FILE
    for path in (config, target_schema):
        if path.exists():
            raise InvalidInput(f"{path} already exists: `trainmaster init` never overwrites a file")
    name = check_name(project or default_project(config.resolve().parent), "project name")
    config.parent.mkdir(parents=True, exist_ok=True)
    _create(config, TEMPLATE.format(project=name, schema=SCHEMA_FILE))
    try:
        _create(target_schema, json.dumps(schema, indent=2) + "\n")
    except BaseException:
        config.unlink(missing_ok=True)
        raise
    return config, target_schema
