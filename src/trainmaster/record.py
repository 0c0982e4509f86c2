"""Release records read back from anywhere are untrusted data.

A ``release.json`` fetched from a remote (a GitHub asset, an Azure artefact) or a
``releases.record`` row read from the ledger is checked against the shipped JSON
Schema (``trainmaster schema --release``) before any field is used: names and file
names are single path components of a safe alphabet, sizes are integers below
2**63, digests are ``sha256:`` and 64 hex digits, at least one package, unique
names, a SemVer version, capped lengths, no unknown field, and so no command. A bad
record is :class:`~trainmaster.errors.IntegrityError` (exit 4) naming the field and
where the record came from. :func:`inside` is the check for every path built from
such data.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from trainmaster.errors import IntegrityError

MAX_RECORD_BYTES = 1 << 20  # 256 packages with 64 KiB of notes fit many times over
_MAX_DEPTH = 8


@cache
def release_schema() -> dict[str, Any]:
    """The JSON Schema of a release record, as shipped in the package."""
    text = Path(__file__).with_name("release.schema.json").read_text(encoding="utf-8")  # as config/_schema.py
    schema: dict[str, Any] = json.loads(text)
    return schema


def read_json(raw: bytes | str, source: str) -> Any:
    """Parse the bytes of a ``release.json`` read from ``source`` (size capped, no NaN, no deep nesting).

    The result is still unchecked data: :meth:`trainmaster.model.Release.from_record` checks it.
    """
    if len(raw) > MAX_RECORD_BYTES:
        raise IntegrityError(f"the release record from {source} is larger than {MAX_RECORD_BYTES} bytes; "
                             "it was not written by trainmaster")
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        reason = "it nests too deeply" if isinstance(exc, RecursionError) else str(exc).splitlines()[0][:120]
        raise IntegrityError(f"the release record from {source} is not valid JSON: {reason}") from None
    return data


def check_record(data: Any, source: str) -> dict[str, Any]:
    """Return ``data`` when it is a valid release record; else raise :class:`IntegrityError` (exit 4)."""
    from trainmaster.config._validate import first_error

    if _depth(data) > _MAX_DEPTH:
        raise IntegrityError(f"the release record from {source} nests too deeply; it was not written by trainmaster")
    problem = first_error(data, release_schema())
    if problem is None:
        problem = _beyond_schema(data)
    if problem is not None:
        where, message = problem
        field = _field(where)
        raise IntegrityError(f"the release record from {source} is invalid at {field}: {message}; "
                             "it is refused as data (nothing was written)")
    assert isinstance(data, dict)
    return data


def inside(root: Path, *parts: str) -> Path:
    """``root/parts…``, checked to stay under ``root`` once resolved (symbolic links followed).

    :raises IntegrityError: when the path would leave ``root`` (exit 4).
    """
    base = root.resolve()
    path = base.joinpath(*parts)
    resolved = path.resolve()
    if resolved != base and base not in resolved.parents:
        raise IntegrityError(f"refusing a path built from data that leaves {root}: {'/'.join(parts)!r}")
    return path


def copy_new(source: Path, target: Path) -> None:
    """Copy ``source`` to a file that must not exist yet: never overwrite as a fallback."""
    import shutil

    with source.open("rb") as reader, target.open("xb") as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)


def _beyond_schema(data: dict[str, Any]) -> tuple[tuple[Any, ...], str] | None:
    seen: set[str] = set()
    for index, pkg in enumerate(data["packages"]):
        if pkg["name"] in seen:
            return ("packages", index, "name"), f"the package name {pkg['name']!r} appears twice"
        seen.add(pkg["name"])
        if isinstance(pkg["size"], float):
            return ("packages", index, "size"), "the size must be a whole number written as one"
        if len(pkg["file_name"].encode("utf-8")) > 255:
            return ("packages", index, "file_name"), "a file name of at most 255 bytes"
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any, level: int = 0) -> int:
    if level > _MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max([_depth(v, level + 1) for v in value.values()], default=level + 1)
    if isinstance(value, list):
        return max([_depth(v, level + 1) for v in value], default=level + 1)
    return level


def _field(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the top level"
