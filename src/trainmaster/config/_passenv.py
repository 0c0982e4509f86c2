"""``pass_env`` must not hand a command a secret it was not given as a secret.

A name is refused in ``pass_env`` (exit 2, at the entry) when it is

* the source of a secret of any environment (``{secret: env:NAME}`` anywhere in the file), or
* a CI or adapter credential: :data:`CREDENTIAL_ENV_NAMES`, plus the variables a plugin's
  settings name as holding its token (a settings property annotated
  ``"x-trainmaster-credential-env": true`` in the plugin's schema, or called ``token_env`` or
  ``token_variable``),

unless that environment declares a secret variable of the same name: then the value
reaches the command as that variable, masked in all output.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from trainmaster.config._schema import plugin_def
from trainmaster.config._yaml import Document, PathKey
from trainmaster.config.model import SecretRef, VariableValue

CREDENTIAL_ENV_NAMES: frozenset[str] = frozenset({
    "GITHUB_TOKEN", "GH_TOKEN", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_URL", "SYSTEM_ACCESSTOKEN", "AZURE_DEVOPS_EXT_PAT",
    "OCTOPUS_API_KEY", "OCTOPUS_ACCESS_TOKEN",
})
"""CI and adapter credentials that ``pass_env`` never passes through."""

CREDENTIAL_ANNOTATION = "x-trainmaster-credential-env"
_TOKEN_KEYS = ("token_env", "token_variable")


def refused_names(data: Mapping[str, Any], schema: Mapping[str, Any], plugin_names: tuple[str, ...]) -> dict[str, str]:
    """Every name ``pass_env`` may not pass, with why."""
    refused = {name: "a CI or adapter credential" for name in CREDENTIAL_ENV_NAMES}
    defs = schema.get("$defs", {})
    for block in _blocks(data):
        for name in plugin_names:
            settings = block.get(name)
            if not isinstance(settings, dict):
                continue
            props = defs.get(plugin_def(name), {}).get("properties", {})
            for key, value in settings.items():
                marked = isinstance(props.get(key), dict) and props[key].get(CREDENTIAL_ANNOTATION)
                if isinstance(value, str) and (marked or key in _TOKEN_KEYS):
                    refused[value] = f"a credential variable ({name}.{key})"
        for value in _secret_refs(block.get("variables")):
            if value.startswith("env:"):
                refused[value[4:]] = "the source of a secret"
    for entry in data.get("notify", ()) or ():
        refs = {"webhook": entry.get("webhook"), "secret": entry.get("secret")} if isinstance(entry, dict) else None
        for value in _secret_refs(refs):
            if value.startswith("env:"):
                refused[value[4:]] = "the source of a secret"
    return refused


def _blocks(data: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield data
    if isinstance(data.get("defaults"), dict):
        yield data["defaults"]
    for item in data.get("train", ()) or ():
        if not isinstance(item, dict):
            continue
        yield item
        for env in item.get("environments", ()) or ():
            if isinstance(env, dict):
                yield env


def _secret_refs(variables: Any) -> Iterator[str]:
    if isinstance(variables, dict):
        for value in variables.values():
            if isinstance(value, dict) and isinstance(value.get("secret"), str):
                yield value["secret"]


def check_pass_env(doc: Document, refused: Mapping[str, str], block: Mapping[str, Any], path: PathKey,
                   pass_env: tuple[str, ...], variables: Mapping[str, VariableValue]) -> None:
    """Raise a located :class:`ConfigError` for the first refused name in an environment's ``pass_env``."""
    own = "pass_env" in block
    for index, name in enumerate(pass_env):
        why = refused.get(name)
        if why is None or isinstance(variables.get(name), SecretRef):
            continue
        at: PathKey = (*path, "pass_env", index) if own else ("defaults", "pass_env", index)
        raise doc.error(
            f"pass_env of environment '{block['name']}' may not pass {name}: it is {why}. Declare it as a "
            f"secret variable of this environment instead ({name}: {{secret: env:{name}}}), so it is masked",
            at,
        )
