"""Deploy-time variables: resolving secret references and computing desired state.

Secret values are only ever held in memory: they go into the command's
environment and into the :class:`~trainmaster.masking.Masker`, never into the
ledger, a release, a log or any output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trainmaster.config.model import SecretRef, VariableValue
from trainmaster.errors import InvalidInput
from trainmaster.model import canonical_json


@dataclass
class Resolved:
    """Resolved variables: every value, and which names held secrets."""

    values: dict[str, str] = field(default_factory=dict)
    secret_names: set[str] = field(default_factory=set)

    @property
    def secrets(self) -> list[str]:
        return [self.values[name] for name in sorted(self.secret_names) if self.values.get(name)]

    @property
    def public(self) -> dict[str, str]:
        return {k: v for k, v in self.values.items() if k not in self.secret_names}


def resolve_value(value: VariableValue, resolvers: Mapping[str, Any], environ: Mapping[str, str],
                  where: str = "") -> str:
    if not isinstance(value, SecretRef):
        return value
    resolver = resolvers.get(value.scheme)
    if resolver is None:
        known = ", ".join(sorted(resolvers)) or "none"
        raise InvalidInput(f"{where}secret reference {value.ref!r} uses an unknown scheme (known: {known})")
    result = resolver(value.name, environ)
    return str(result)


def resolve_variables(variables: Mapping[str, VariableValue], resolvers: Mapping[str, Any],
                      environ: Mapping[str, str], environment: str) -> Resolved:
    """Resolve every variable of an environment; a missing secret is an input error (exit 2)."""
    out = Resolved()
    for name, value in variables.items():
        out.values[name] = resolve_value(value, resolvers, environ, where=f"environment {environment!r}: ")
        if isinstance(value, SecretRef):
            out.secret_names.add(name)
    return out


def desired_state(digest: str, public_variables: Mapping[str, str]) -> str:
    """The desired state of one package in one environment: its digest plus the non-secret variables."""
    body = canonical_json({"digest": digest, "variables": dict(public_variables)})
    return "sha256:" + hashlib.sha256(body).hexdigest()
