"""Deploy-time variables: resolving secret references and computing desired state.

Secret values are only ever held in memory: they go into the command's
environment and into the :class:`~trainmaster.masking.Masker`, never into the
ledger, a release, a log or any output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
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


def desired_state(digest: str, public_variables: Mapping[str, str], *, commands: Mapping[str, str | None],
                  secrets: Mapping[str, str], key: bytes) -> str:
    """The desired state of one package in one environment (CDAF's state record).

    Its digest, the non-secret variables, the commands that would run for it, and a
    keyed hash (HMAC-SHA256 with the state folder's own key) of each secret value, so
    that rotating a secret or changing a command is a change, while the ledger never
    holds anything a secret could be guessed from.
    """
    import hmac

    body = canonical_json({
        "digest": digest,
        "variables": dict(public_variables),
        "commands": {k: v for k, v in commands.items() if v},
        "secrets": {name: hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
                    for name, value in sorted(secrets.items())},
    })
    return "sha256:" + hashlib.sha256(body).hexdigest()


def state_key(state_dir: Path) -> bytes:
    """The random key of ``state_dir`` for keyed secret hashes, created once (mode 0600)."""
    import os
    import secrets

    path = state_dir / "state.key"
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key
