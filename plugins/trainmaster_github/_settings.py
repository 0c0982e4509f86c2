"""The ``github:`` settings block: its JSON Schema, its resolved form, and the client it configures.

The block may appear at the top level of ``trainmaster.yaml``, in ``defaults`` and in
each environment; the core merges them key by key. ``repository``, ``tag``,
``api_url`` and ``token_env`` are train-wide (:data:`TOP_LEVEL_ONLY`): the release,
the deployments and the ledger must all talk about the same tag in the same
repository, so setting them in ``defaults`` or an environment is a config error.
The token is never a setting: only the *name* of the variable holding it (``token_env``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from trainmaster.errors import InvalidInput
from trainmaster_github._auth import resolve_token
from trainmaster_github._schema import SCHEMA  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster.config.settings import SettingsBlock
    from trainmaster_github.client import GitHubClient

TOP_LEVEL_ONLY = ("repository", "tag", "api_url", "token_env")
"""Keys that only the top-level ``github:`` block may set (one repository and tag format per train)."""



@dataclass(frozen=True)
class Settings:
    """The merged ``github:`` block with defaults from the environment applied."""

    repository: str
    tag_format: str = "v{version}"
    token_env: str | None = None
    api_url: str = "https://api.github.com"
    environment: str | None = None
    environment_url: str | None = None
    immutable: bool = False

    def tag(self, version: str) -> str:
        return self.tag_format.replace("{version}", version)

    def environment_path(self, name: str | None = None) -> str:
        """The GitHub environment's name, percent-encoded as one URL path segment."""
        return quote(name or self.environment or "", safe="")

    @classmethod
    def resolve(
        cls,
        config: Config,
        environment: Environment | str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Settings for ``environment`` (None: the top-level block), falling back to ``GITHUB_*`` variables.

        :raises ConfigError: a train-wide key set in ``defaults`` or an environment (exit 2, with its location).
        :raises InvalidInput: no repository in the block nor in ``GITHUB_REPOSITORY`` (exit 2).
        """
        environ = os.environ if environ is None else environ
        from trainmaster.config.settings import settings_block

        block: dict[str, Any] = dict(settings_block(config, "github"))
        env_name = environment if isinstance(environment, str) else None
        env = config.environment(environment) if isinstance(environment, str) else environment
        if env is not None:
            env_name = env.name
            merged = settings_block(config, "github", env)
            _check_top_level_only(env, block, merged)
            block.update(merged)
        repository = block.get("repository") or environ.get("GITHUB_REPOSITORY") or ""
        if not repository:
            raise InvalidInput(
                "no GitHub repository: set GITHUB_REPOSITORY (set by GitHub Actions) or "
                "github.repository in trainmaster.yaml"
            )
        api_url = block.get("api_url") or environ.get("GITHUB_API_URL") or "https://api.github.com"
        return cls(
            repository=repository,
            tag_format=block.get("tag") or "v{version}",
            token_env=block.get("token_env"),
            api_url=api_url,
            environment=block.get("environment") or env_name,
            environment_url=block.get("environment_url"),
            immutable=bool(block.get("immutable", False)),
        )

    def client(self, environ: Mapping[str, str] | None = None, **client_kw: Any) -> GitHubClient:
        """A client for this repository, the token read from the environment.

        :param client_kw: passed to :class:`GitHubClient` (tests inject a ``policy`` that records sleeps).
        """
        from trainmaster_github.client import GitHubClient

        environ = os.environ if environ is None else environ
        token, source = resolve_token(environ, self.token_env)
        return GitHubClient(
            self.repository,
            token,
            token_source=source,
            api_url=self.api_url,
            **client_kw,
        )


def _check_top_level_only(env: Environment, top: Mapping[str, Any], merged: SettingsBlock) -> None:
    """``repository``/``tag``/``api_url``/``token_env`` set in ``defaults`` or an environment: exit 2,
    located at the key that set it."""
    for key in TOP_LEVEL_ONLY:
        if key in merged and merged.get(key) != top.get(key):
            raise merged.error(
                f"environment {env.name}: github.{key} may only be set in the top-level github block "
                f"(the release, its deployments and the ledger share one {key}); move it there",
                key,
            )


class GitHubBound:
    """What the GitHub target and ledger share: the settings they resolve and their one client.

    ``environment`` is ``None`` for the ledger (the top-level block). The client is made on first
    use, so a command that calls nothing on GitHub needs no token; ``client_kw`` go to
    :class:`~trainmaster_github.client.GitHubClient` (tests inject a ``policy`` that records sleeps).
    """

    def __init__(self, config: Config, environment: Environment | None, environ: Mapping[str, str] | None,
                 client_kw: dict[str, Any]) -> None:
        self.config = config
        self.environ = environ
        self.client_kw = client_kw
        self.settings = Settings.resolve(config, environment, environ)
        self._client: GitHubClient | None = None

    @property
    def client(self) -> GitHubClient:
        if self._client is None:
            self._client = self.settings.client(self.environ, **self.client_kw)
        return self._client


_warned: set[str] = set()


def warn_once(key: str, message: str, environ: Mapping[str, str] | None = None) -> None:
    """A warning, as an annotation inside GitHub Actions, else on stderr; once per process."""
    if key in _warned:
        return
    _warned.add(key)
    environ = os.environ if environ is None else environ
    from trainmaster_github.context import GitHubActionsContext, is_github_actions

    if is_github_actions(environ):
        GitHubActionsContext(environ, write=lambda text: print(text, end="", file=sys.stderr)).warning(message)
    else:
        print(f"warning: {message}", file=sys.stderr)


def warn_if_local_ledger(config: Config, environ: Mapping[str, str] | None = None) -> None:
    """Inside GitHub Actions, the local ``sqlite`` ledger does not outlive the job: say so."""
    from trainmaster_github.context import is_github_actions

    environ = os.environ if environ is None else environ
    if is_github_actions(environ) and config.ledger == "sqlite":
        warn_once(
            "sqlite-ledger",
            "this config uses the local sqlite ledger, which does not outlive the job on "
            "a GitHub-hosted runner: set `ledger: github` so later jobs see earlier deployments",
            environ,
        )
