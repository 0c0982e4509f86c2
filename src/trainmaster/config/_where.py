"""Human names for places in the config: "environment 'prod'", "'monitor.every' of defaults"."""

from __future__ import annotations

from typing import Any

from trainmaster.config._yaml import PathKey


def _item_name(item: Any, key: str, fallback: str) -> str:
    if isinstance(item, dict) and isinstance(item.get(key), str):
        return str(item[key])
    return fallback


def _owner(data: Any, path: PathKey) -> tuple[str, int]:
    """The innermost named owner of ``path`` and how many path parts it spans."""
    if not path:
        return "the top level", 0
    head = path[0]
    if head == "defaults":
        return "defaults", 1
    if head == "packages" and len(path) >= 2:
        return f"package '{path[1]}'", 2
    if head == "notify" and len(path) >= 2 and isinstance(path[1], int):
        return f"notify entry {path[1] + 1}", 2
    if head == "train" and len(path) >= 2 and isinstance(path[1], int):
        train = data.get("train") if isinstance(data, dict) else None
        item = train[path[1]] if isinstance(train, list) and path[1] < len(train) else None
        if not isinstance(item, dict):
            return f"train item {path[1] + 1}", 2
        if isinstance(item, dict) and "stage" in item:
            envs = item.get("environments")
            if len(path) >= 4 and path[2] == "environments" and isinstance(path[3], int):
                env = envs[path[3]] if isinstance(envs, list) and path[3] < len(envs) else None
                return f"environment '{_item_name(env, 'name', f'#{path[3] + 1}')}'", 4
            return f"stage '{_item_name(item, 'stage', f'#{path[1] + 1}')}'", 2
        return f"environment '{_item_name(item, 'name', f'#{path[1] + 1}')}'", 2
    return "the top level", 0


def _dotted(parts: PathKey) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text


def where(data: Any, path: PathKey) -> str:
    """``environment 'prod'``, ``'monitor' of environment 'prod'``, ``'train'`` …"""
    owner, used = _owner(data, path)
    rest = path[used:]
    if not rest:
        return owner
    if owner == "the top level":
        return f"'{_dotted(rest)}'"
    return f"'{_dotted(rest)}' of {owner}"


def inside(data: Any, path: PathKey) -> str:
    """Like :func:`where` but reads after "in": ``in environment 'prod'``, ``at the top level``."""
    text = where(data, path)
    return "at the top level" if text == "the top level" else f"in {text}"
