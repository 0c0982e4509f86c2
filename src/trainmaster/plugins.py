"""The plugin manager: built-in plugins, the ``trainmaster`` entry-point group, and the registry.

* Built-in plugins (:data:`DEFAULT_PLUGINS`) are registered by import path,
  exactly like third-party ones.
* Entry points of the group ``trainmaster`` are loaded one by one; one that
  fails to import is reported by name (:data:`load_errors`) and skipped, so a
  missing optional SDK never crashes the CLI.
* ``TRAINMASTER_LOAD_PLUGINS`` is a comma-separated allow-list of entry-point
  names (empty: load none). ``TRAINMASTER_TRACE_PLUGINS=1`` prints every hook
  call with its arguments and results to stderr.
* ``check_pending()`` catches hook implementations that match no spec.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pluggy

from trainmaster import hookspecs
from trainmaster.errors import PluginError

DEFAULT_PLUGINS = (
    "trainmaster.builtin.local",
    "trainmaster.builtin.sqlite",
    "trainmaster.builtin.secrets",
    "trainmaster.builtin.shell",
    "trainmaster.builtin.webhook",
)

ENTRY_POINT_GROUP = "trainmaster"

_pm: pluggy.PluginManager | None = None
load_errors: list[tuple[str, str]] = []
plugin_sources: dict[str, str] = {}


def _allowed() -> set[str] | None:
    raw = os.environ.get("TRAINMASTER_LOAD_PLUGINS")
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def entry_points(group: str) -> Iterator[tuple[str, str, str]]:
    """``(name, "module:attr", "dist version")`` of ``group``, read from the installed distributions.

    Reads each ``*.dist-info``/``*.egg-info`` ``entry_points.txt`` on ``sys.path``
    directly (the first distribution of a name wins, as with :mod:`importlib.metadata`),
    which keeps ``importlib.metadata`` and its e-mail parser off the start-up path.
    """
    import configparser

    seen: set[str] = set()
    for base in sys.path:
        if base and os.path.isfile(base):  # a zip on sys.path: let importlib.metadata read it
            from importlib import metadata

            for dist in metadata.distributions(path=[base]):
                key = (dist.metadata["Name"] or "").lower().replace("_", "-").replace(".", "-")
                if key in seen:
                    continue
                seen.add(key)
                for ep in dist.entry_points.select(group=group):
                    yield ep.name, ep.value, f"{dist.metadata['Name']} {dist.version}"
            continue
        try:
            entries = sorted(os.scandir(base or "."), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            stem, dot, suffix = entry.name.rpartition(".")
            if not dot or suffix not in ("dist-info", "egg-info"):
                continue
            dist_name, _, version = stem.partition("-")
            key = dist_name.lower().replace("_", "-").replace(".", "-")
            if key in seen:
                continue
            seen.add(key)
            path = os.path.join(entry.path, "entry_points.txt")
            if not os.path.isfile(path):
                continue
            parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
            parser.optionxform = str  # type: ignore[assignment,method-assign]
            try:
                parser.read(path, encoding="utf-8")
            except (configparser.Error, UnicodeDecodeError):
                continue
            if parser.has_section(group):
                for name, value in parser.items(group):
                    yield name, value.strip(), f"{dist_name} {version}".strip()


def _load(value: str) -> object:
    module_name, _, attr = value.split("[", 1)[0].strip().partition(":")
    obj: object = importlib.import_module(module_name.strip())
    for part in filter(None, attr.strip().split(".")):
        obj = getattr(obj, part)
    return obj


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    allowed = _allowed()
    if allowed is None and getattr(sys, "_trainmaster_testing", False):
        return
    for name, value, dist in entry_points(ENTRY_POINT_GROUP):
        if allowed is not None and name not in allowed:
            continue
        if pm.get_plugin(name) is not None or pm.is_blocked(name):
            continue
        try:
            plugin = _load(value)
        except Exception as exc:  # any import failure is reported, never fatal
            load_errors.append((name, f"{type(exc).__name__}: {exc}"))
            continue
        pm.register(plugin, name=name)
        plugin_sources[name] = dist or value
    if allowed:
        for name in sorted(allowed - set(plugin_sources)):
            if not any(n == name for n, _ in load_errors):
                load_errors.append((name, "not installed (named in TRAINMASTER_LOAD_PLUGINS)"))


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, created on first use."""
    global _pm
    if _pm is not None:
        return _pm
    pm = pluggy.PluginManager("trainmaster")
    pm.add_hookspecs(hookspecs)
    for name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
        plugin_sources[name] = "built-in"
    _load_entry_points(pm)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(_unknown_hook_message(pm, exc.plugin)) from None
    if os.environ.get("TRAINMASTER_TRACE_PLUGINS"):
        def before(name: str, impls: Any, kwargs: Any) -> None:
            print(f"[trace] {name}({', '.join(kwargs)}) -> {[i.plugin_name for i in impls]}", file=sys.stderr)

        def after(outcome: Any, name: str, impls: Any, kwargs: Any) -> None:
            try:
                result = outcome.get_result()
            except BaseException as exc:  # the caller gets the exception; the trace only names it
                print(f"[trace] {name} raised {type(exc).__name__}", file=sys.stderr)
                return
            print(f"[trace] {name} returned {result!r}", file=sys.stderr)

        pm.add_hookcall_monitoring(before, after)
    _pm = pm
    return pm


def _unknown_hook_message(pm: pluggy.PluginManager, plugin: object) -> str:
    import difflib

    name = pm.get_name(plugin) or repr(plugin)
    known = [n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), "trainmaster_spec")]
    bad = [caller.name for caller in (pm.get_hookcallers(plugin) or []) if not caller.has_spec()]
    parts = []
    for hook in bad:
        close = difflib.get_close_matches(hook, known, n=1)
        parts.append(hook + (f" (did you mean {close[0]}?)" if close else ""))
    return f"plugin {name!r} implements unknown hook(s): {', '.join(parts) or '?'}"


def reset_plugin_manager() -> None:
    """Forget the manager (tests register throwaway plugins on a fresh one)."""
    global _pm
    _pm = None
    load_errors.clear()
    plugin_sources.clear()


@dataclass
class Registry:
    """Everything the registration hooks registered, by name."""

    targets: dict[str, Any] = field(default_factory=dict)
    ledgers: dict[str, Any] = field(default_factory=dict)
    publishers: dict[str, Any] = field(default_factory=dict)
    secret_resolvers: dict[str, Any] = field(default_factory=dict)
    config_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)


def each_plugin(pm: pluggy.PluginManager, hook: str) -> Iterator[tuple[str, Callable[..., Any]]]:
    """``(plugin name, call of that plugin's implementation alone)`` for each implementation of ``hook``.

    In pluggy's call order (the last registered first, ``tryfirst``/``trylast`` honoured). Each
    call goes through the plugin manager's hook execution, exactly as ``pm.subset_hook_caller``
    does (which cannot be used here: it needs hashable plugin objects), so
    ``TRAINMASTER_TRACE_PLUGINS`` and any other monitoring see it, and the core knows which
    plugin answered or raised.
    """
    caller = getattr(pm.hook, hook)
    for impl in reversed(caller.get_hookimpls()):
        def call(_impl: Any = impl, **kwargs: Any) -> Any:
            return caller._hookexec(hook, [_impl], kwargs, False)

        yield impl.plugin_name, call


def _collect(pm: pluggy.PluginManager, hook: str, kind: str, table: dict[str, Any]) -> None:
    """Call ``hook`` plugin by plugin; a name registered twice is an error naming both plugins."""
    owners: dict[str, str] = {}
    for plugin, call in each_plugin(pm, hook):
        def register(name: str, value: Any, plugin: str = plugin) -> None:
            if name in table:
                first = owners[name]
                raise PluginError(f"plugin {plugin!r} registers the {kind} {name!r} twice" if first == plugin
                                  else f"plugins {first!r} and {plugin!r} both register the {kind} {name!r}")
            table[name] = value
            owners[name] = plugin

        call(register=register)


def build_registry(pm: pluggy.PluginManager | None = None) -> Registry:
    """Call every registration hook once and collect the results."""
    pm = pm or get_plugin_manager()
    reg = Registry()
    _collect(pm, "register_targets", "target", reg.targets)
    _collect(pm, "register_ledgers", "ledger", reg.ledgers)
    _collect(pm, "register_publishers", "publisher", reg.publishers)
    _collect(pm, "register_secret_resolvers", "secret scheme", reg.secret_resolvers)
    _collect(pm, "register_config_schema", "settings block", reg.config_schemas)
    return reg
