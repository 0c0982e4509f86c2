"""Configuration: ``trainmaster.yaml`` read, validated and turned into :mod:`.model` dataclasses.

Importing this package is cheap: YAML is imported only when a file is loaded.
Every problem raises :class:`trainmaster.errors.ConfigError` naming the file,
line and column, what was expected, and the closest valid key for a typo.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from trainmaster.config._values import package_env_name, parse_duration
from trainmaster.config.model import Config
from trainmaster.errors import ConfigError

__all__ = ["Config", "ConfigError", "config_schema", "load_config", "package_env_name", "parse_duration"]


def load_config(
    path: Path,
    *,
    plugin_schemas: dict[str, dict[str, Any]] | None = None,
    secret_schemes: Iterable[str] = ("env",),
    display_path: str | None = None,
    targets: Iterable[str] | None = None,
) -> Config:
    """Read, validate and convert the config file at ``path``.

    :param path: the YAML file; package paths and ``state_dir`` are relative to its directory.
    :param plugin_schemas: adapter block name (``github``, ``azure-devops``, ``octopus`` …)
        to the JSON Schema of its settings. Such a block is accepted at top level, in
        ``defaults`` and in any environment, and merged key by key into
        :attr:`Environment.settings <trainmaster.config.model.Environment.settings>`.
        Any other unknown block is an error.
    :param secret_schemes: the secret-reference schemes a resolver exists for; a
        reference with another scheme is an error.
    :param display_path: how to name the file in messages (default: ``str(path)``).
    :param targets: the targets installed plugins provide; an environment using
        another one is an error (``None``: not checked).
    :return: the validated :class:`~trainmaster.config.model.Config`.
    :raises ConfigError: for a missing or unreadable file, invalid YAML, or any
        rule of the configuration that is broken; when several are, a
        :class:`~trainmaster.errors.ConfigErrors` holding up to 20 of them, the
        first as its own message.
    """
    from trainmaster.config._load import load

    return load(path, plugin_schemas=plugin_schemas, secret_schemes=secret_schemes, display_path=display_path,
                targets=targets)


def config_schema(plugin_schemas: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``trainmaster.yaml``, plugin blocks merged in.

    The base ships as ``trainmaster/config/schema.json``. Each plugin block is
    allowed at top level (checked in full) and in ``defaults`` and environments
    (where its top-level ``required`` is dropped, as it only overrides keys).
    Some rules are checked only by :func:`load_config`: unique names, time zones,
    hours and freeze order, secret-looking literals and secret schemes.
    """
    from trainmaster.config._schema import build_schema

    return build_schema(plugin_schemas)
