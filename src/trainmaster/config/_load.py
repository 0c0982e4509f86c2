"""``load_config``: read, validate and convert ``trainmaster.yaml``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from trainmaster.config._convert import Converter
from trainmaster.config._schema import build_schema
from trainmaster.config._validate import validate
from trainmaster.config._yaml import read_document
from trainmaster.config.model import Config
from trainmaster.errors import config_errors


def load(
    path: Path,
    *,
    plugin_schemas: dict[str, dict[str, Any]] | None,
    secret_schemes: Iterable[str],
    display_path: str | None,
    targets: Iterable[str] | None = None,
) -> Config:
    """See :func:`trainmaster.config.load_config`.

    The shape is checked first, every problem collected; the checks that need a
    well-formed config (durations, names, secrets, targets …) run once the shape is right.
    """
    path = Path(path)
    display = display_path if display_path is not None else str(path)
    doc = read_document(path, display)
    schema = build_schema(plugin_schemas)
    problems = validate(doc, schema)
    if problems:
        raise config_errors(problems)
    converter = Converter(
        doc, schema, path=path, plugin_names=tuple(plugin_schemas or ()), secret_schemes=secret_schemes,
        targets=targets,
    )
    return converter.config()
