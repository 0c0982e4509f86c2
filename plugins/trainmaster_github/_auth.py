"""Where the GitHub token comes from: a variable of the environment, never the config file."""

from __future__ import annotations

from collections.abc import Mapping

from trainmaster.errors import InvalidInput


def resolve_token(environ: Mapping[str, str], token_env: str | None = None) -> tuple[str, str]:
    """Return ``(token, variable name)``; the config may only *name* the variable (``github.token_env``).

    Without ``token_env``: ``GITHUB_TOKEN``, then ``GH_TOKEN``.

    :raises InvalidInput: when no variable holds a token (exit 2).
    """
    names = [token_env] if token_env else ["GITHUB_TOKEN", "GH_TOKEN"]
    for name in names:
        value = (environ.get(name) or "").strip()
        if value:
            return value, name
    if token_env:
        raise InvalidInput(
            f"the variable {token_env} named by github.token_env is empty or unset: "
            f"set {token_env} to the GitHub token (in a workflow, map a secret into it with env:)"
        )
    raise InvalidInput(
        "no GitHub token: set GITHUB_TOKEN or GH_TOKEN (in a workflow the action passes "
        "github.token), or name another variable with github.token_env"
    )
