"""The built-in ``env`` secret scheme: ``{secret: env:NAME}`` reads the runner's environment."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from trainmaster.errors import InvalidInput
from trainmaster.hookspecs import hookimpl
from trainmaster.interfaces import SecretResolver


def resolve_env(name: str, environ: Mapping[str, str]) -> str:
    value = environ.get(name)
    if value is None or value == "":
        raise InvalidInput(f"secret env:{name} is not set: export {name} in the runner "
                           "(or map it from your CI's secret store)")
    return value


@hookimpl
def register_secret_resolvers(register: Callable[[str, SecretResolver], None]) -> None:
    register("env", resolve_env)
