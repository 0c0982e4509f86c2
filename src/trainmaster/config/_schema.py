"""The JSON Schema of ``trainmaster.yaml``: the shipped base plus plugin blocks."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from trainmaster.errors import PluginError


@lru_cache(maxsize=1)
def _base_text() -> str:
    # next to this module in a wheel and in a checkout alike; importlib.resources would cost every
    # command its imports (tempfile, shutil, zipfile: milliseconds on the way to reading one file)
    return Path(__file__).with_name("schema.json").read_text(encoding="utf-8")


def base_schema() -> dict[str, Any]:
    """A fresh copy of the shipped ``schema.json``."""
    schema: dict[str, Any] = json.loads(_base_text())
    return schema


def plugin_def(name: str, *, partial: bool = False) -> str:
    """The ``$defs`` key holding plugin block ``name`` (its partial form when ``partial``)."""
    return f"plugin:{name}" + (":partial" if partial else "")


def _rewrite_refs(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#"):
                out[key] = prefix + value[1:]
            else:
                out[key] = _rewrite_refs(value, prefix)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, prefix) for item in node]
    return node


def build_schema(plugin_schemas: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The full schema with each plugin block allowed at top level, in ``defaults`` and in environments.

    The top-level block is checked against the plugin's schema as given. In
    ``defaults`` and environments the block only overrides some keys, so there its
    top-level ``required`` is dropped; the merged block is checked in full later.
    Local ``$ref`` pointers inside a plugin schema are rewritten to stay inside it.
    """
    schema = base_schema()
    defs = schema["$defs"]
    env_props = defs["environment"]["properties"]
    for name, block in sorted((plugin_schemas or {}).items()):
        if not isinstance(block, dict):
            raise PluginError(f"the config schema registered for '{name}' is not a JSON Schema object")
        if name in schema["properties"] or name in env_props:
            raise PluginError(f"the config block '{name}' registered by a plugin clashes with a core key")
        full_key = plugin_def(name)
        pointer = "#/$defs/" + full_key.replace("~", "~0").replace("/", "~1")
        full = _rewrite_refs(copy.deepcopy(block), pointer)
        full.pop("$schema", None)
        full.pop("$id", None)
        partial = {k: v for k, v in full.items() if k != "required"}
        defs[full_key] = full
        defs[plugin_def(name, partial=True)] = partial
        title = block.get("title", f"{name} settings")
        description = block.get("description", f"Settings of the {name} plugin.")
        schema["properties"][name] = {"title": title, "description": description, "$ref": pointer}
        override = {
            "title": title,
            "description": description + " Overrides the top-level block key by key.",
            "$ref": "#/$defs/" + plugin_def(name, partial=True).replace("~", "~0").replace("/", "~1"),
        }
        env_props[name] = override
        defs["defaults"]["properties"][name] = dict(override)
    return schema
