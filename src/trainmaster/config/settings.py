"""A plugin's settings block, read with where it was written: errors point at file:line:column.

An adapter reads its block (``github:``, ``azure-devops:``, ``octopus:``) through
:func:`settings_block` instead of ``config.plugin_settings`` / ``environment.settings``
and raises ``block.error("…", "key")``: a :class:`~trainmaster.errors.ConfigError`
located at the key that set the value (the most specific of top level, ``defaults``
and the environment), else at the block, else at the environment, else naming the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from trainmaster.config.model import Config, Environment, Location
from trainmaster.errors import ConfigError

__all__ = ["SettingsBlock", "WaitSettings", "settings_block", "token_from", "wait_schema"]


@dataclass(frozen=True)
class SettingsBlock(Mapping[str, Any]):
    """The merged values of one settings block (read-only mapping) and where each key was written."""

    name: str
    merged: dict[str, Any]
    file: str
    locations: dict[str, Location] = field(default_factory=dict)
    fallback: Location | None = None

    def __getitem__(self, key: str) -> Any:
        return self.merged[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.merged)

    def __len__(self) -> int:
        return len(self.merged)

    def where(self, key: str | None = None) -> Location | None:
        """Where ``key`` was written, else the block, else the environment; None if nowhere."""
        return (self.locations.get(key) if key else None) or self.locations.get("") or self.fallback

    def error(self, message: str, key: str | None = None, *, suggestion: str | None = None) -> ConfigError:
        """A ConfigError at ``key`` of this block (``key`` is reported as ``block.key``)."""
        at = self.where(key)
        return ConfigError(message, file=at.file if at else self.file, line=at.line if at else None,
                           column=at.column if at else None, key=f"{self.name}.{key}" if key else self.name,
                           suggestion=suggestion)


def settings_block(config: Config, name: str, environment: Environment | None = None) -> SettingsBlock:
    """The block ``name`` as ``environment`` sees it (top level, ``defaults`` and its own, merged), or
    the top-level block without an environment; empty when the config does not set it."""
    if environment is None:
        values = config.plugin_settings.get(name) or {}
        locations = config.plugin_locations.get(name) or {}
        fallback = None
    else:
        values = environment.settings.get(name) or {}
        locations = environment.settings_locations.get(name) or {}
        fallback = environment.location
    file = fallback.file if fallback else str(config.path)
    return SettingsBlock(name, dict(values), file, dict(locations), fallback)


class WaitSettings:
    """What every remote target's settings share: ``get`` (None is unset), ``poll_interval``, ``timeout``.

    Mix into a settings class whose ``raw`` holds its block; set ``POLL_DEFAULT`` to change the default.
    """

    raw: Mapping[str, Any]
    POLL_DEFAULT = 5.0
    TIMEOUT_DEFAULT = 3600.0

    def get(self, key: str, default: Any = None) -> Any:
        value = self.raw.get(key)
        return default if value is None else value

    @property
    def poll_interval(self) -> float:
        """Seconds between two polls of the remote task, job or run."""
        return float(self.get("poll_interval", self.POLL_DEFAULT))

    @property
    def timeout(self) -> float:
        """Seconds to wait for it before giving up (and cancelling it where the system can)."""
        return float(self.get("timeout", self.TIMEOUT_DEFAULT))


def wait_schema(*, token: str, timeout: str) -> dict[str, Any]:
    """The schema ``properties`` of what :class:`WaitSettings` and :func:`token_from` read.

    :param token: the description of ``token`` (a secret reference; name the default variable).
    :param timeout: the description of ``timeout`` (what happens to the remote work when it runs out).
    """
    return {
        "token": {"type": "string", "pattern": "^[a-z][a-z0-9_-]*:.+$", "description": token},
        "poll_interval": {"type": "number", "exclusiveMinimum": 0, "default": 5},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "default": 3600, "description": timeout},
    }


def token_from(ref: object, variables: tuple[str, ...], environ: Mapping[str, str], *, key: str) -> tuple[str, str]:
    """``(token, where it came from)`` for a remote target's credential, never printed.

    ``ref`` is the block's ``token`` setting, a secret reference (``env:NAME``, ``file:…``, any
    installed scheme) resolved through the registered resolvers; without one, the first of
    ``variables`` that is set. The source names the reference or the variable (for messages);
    the token is ``""`` when nothing is set (the caller says what to set).
    """
    if ref:
        from trainmaster.config.model import SecretRef
        from trainmaster.plugins import build_registry
        from trainmaster.variables import resolve_value

        token = resolve_value(SecretRef(str(ref)), build_registry().secret_resolvers, environ, where=f"{key}: ")
        return token, f"the secret {ref}"
    name = next((n for n in variables if environ.get(n)), variables[0])
    return environ.get(name, ""), name
