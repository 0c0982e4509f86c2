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


def load(
    path: Path,
    *,
    plugin_schemas: dict[str, dict[str, Any]] | None,
    secret_schemes: Iterable[str],
    display_path: str | None,
) -> Config:
    """See :func:`trainmaster.config.load_config`."""
    path = Path(path)
    display = display_path if display_path is not None else str(path)
    doc = read_document(path, display)
    schema = build_schema(plugin_schemas)
    validate(doc, schema)
    converter = Converter(
        doc, schema, path=path, plugin_names=tuple(plugin_schemas or ()), secret_schemes=secret_schemes
    )
    return converter.config()
