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
* :func:`register_commands` (``trainmaster --help``) imports only the plugins
  whose source may define that hook, so listing commands stays fast.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trainmaster.errors import PluginError

if TYPE_CHECKING:  # pluggy and the hook specs are imported when a manager is built, not for --help
    import click
    import pluggy

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
            try:
                with open(path, encoding="utf-8") as fh:
                    pairs = list(_section_pairs(fh, group))
            except (OSError, UnicodeDecodeError):
                continue
            for name, value in pairs:
                yield name, value, f"{dist_name} {version}".strip()


def _section_pairs(lines: Iterable[str], group: str) -> Iterator[tuple[str, str]]:
    """``name = value`` lines of section ``[group]``, parsed as :mod:`importlib.metadata` does."""
    section = None
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == group and "=" in line:
            name, _, value = line.partition("=")
            yield name.strip(), value.strip()


def warn_load_errors() -> None:
    """Name every plugin that failed to load, one warning line each on stderr."""
    for name, error in load_errors:
        print(f"warning: plugin {name!r} failed to load and was skipped: {error}", file=sys.stderr)


def _load(value: str) -> object:
    module_name, _, attr = value.split("[", 1)[0].strip().partition(":")
    obj: object = importlib.import_module(module_name.strip())
    for part in filter(None, attr.strip().split(".")):
        obj = getattr(obj, part)
    return obj


def _allowed_entry_points() -> Iterator[tuple[str, str, str]]:
    """The entry points to load: all of them, or those named in ``TRAINMASTER_LOAD_PLUGINS``."""
    allowed = _allowed()
    if allowed is None and getattr(sys, "_trainmaster_testing", False):
        return
    for name, value, dist in entry_points(ENTRY_POINT_GROUP):
        if allowed is None or name in allowed:
            yield name, value, dist


def _load_or_report(name: str, value: str) -> object | None:
    """Import one plugin; an import failure is recorded in :data:`load_errors` (once), never raised."""
    try:
        return _load(value)
    except Exception as exc:  # any import failure is reported, never fatal
        error = (name, f"{type(exc).__name__}: {exc}")
        if error not in load_errors:
            load_errors.append(error)
        return None


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    allowed = _allowed()
    for name, value, dist in _allowed_entry_points():
        if pm.get_plugin(name) is not None or pm.is_blocked(name):
            continue
        plugin = _load_or_report(name, value)
        if plugin is None:
            continue
        pm.register(plugin, name=name)
        plugin_sources[name] = dist or value
    if allowed:
        for name in sorted(allowed - set(plugin_sources)):
            if not any(n == name for n, _ in load_errors):
                load_errors.append((name, "not installed (named in TRAINMASTER_LOAD_PLUGINS)"))


def _new_manager() -> pluggy.PluginManager:
    import pluggy

    from trainmaster import hookspecs

    pm = pluggy.PluginManager("trainmaster")
    pm.add_hookspecs(hookspecs)
    return pm


def _check_pending(pm: pluggy.PluginManager) -> None:
    import pluggy

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(_unknown_hook_message(pm, exc.plugin)) from None


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, created on first use."""
    global _pm
    if _pm is not None:
        return _pm
    pm = _new_manager()
    for name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
        plugin_sources[name] = "built-in"
    _load_entry_points(pm)
    _check_pending(pm)
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


def register_commands(cli: click.Group) -> None:
    """Call the ``register_commands`` hook on ``cli``, importing only the plugins that may implement it.

    With the process-wide manager already built, or ``TRAINMASTER_TRACE_PLUGINS`` set,
    this is ``get_plugin_manager().hook.register_commands(cli=cli)``. Otherwise a
    manager of its own gets the same plugins (built-in, then allowed entry points,
    in that order) minus those whose source shows they cannot define the hook
    (:func:`_may_define`): ``trainmaster --help`` then imports neither the built-in
    plugins nor the adapters and their SDKs. Import failures land in
    :data:`load_errors` as usual; a hook matching no spec is a :class:`PluginError`.
    """
    if _pm is not None or os.environ.get("TRAINMASTER_TRACE_PLUGINS"):
        get_plugin_manager().hook.register_commands(cli=cli)
        return
    candidates = [(name, name) for name in DEFAULT_PLUGINS]
    candidates += [(name, value) for name, value, _ in _allowed_entry_points()]
    pm: pluggy.PluginManager | None = None
    for name, value in candidates:
        if not _may_define(value, b"register_command"):
            continue
        plugin = _load_or_report(name, value)
        if plugin is None:
            continue
        pm = pm or _new_manager()
        if pm.get_plugin(name) is None and not pm.is_blocked(name):
            pm.register(plugin, name=name)
    if pm is not None:
        _check_pending(pm)
        pm.hook.register_commands(cli=cli)


def _may_define(value: str, word: bytes) -> bool:
    """Whether the plugin ``value`` (``module`` or ``module:attr``) may define ``word``, decided without importing it.

    False only when the module's own source file is found through :mod:`sys.path`
    (as :class:`importlib.machinery.PathFinder` finds it, without running any
    package's ``__init__``) and mentions neither ``word`` (a hook implementation,
    even one renamed with ``specname=``, names it) nor ``import *``. An object
    (``module:attr``), a module already imported, a compiled or zipped one, a
    package that rewrites its ``__path__``: all count as "may", and get imported.
    """
    from importlib.machinery import PathFinder, SourceFileLoader

    module_name, _, attr = value.split("[", 1)[0].strip().partition(":")
    module_name = module_name.strip()
    if attr.strip() or module_name in sys.modules:
        return True
    search: list[str] | None = None
    parts = module_name.split(".")
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        parent = sys.modules.get(name) if depth < len(parts) else None
        if parent is not None:  # already imported: its __path__ is the truth
            path = getattr(parent, "__path__", None)
            if path is None:
                return True
            search = list(path)
            continue
        try:
            spec = PathFinder.find_spec(name, search)
        except (ImportError, ValueError):
            return True
        if spec is None or not isinstance(spec.loader, SourceFileLoader) or not spec.origin:
            return True
        try:
            with open(spec.origin, "rb") as fh:
                source = fh.read()
        except OSError:
            return True
        if depth < len(parts):  # a parent package: its __init__ runs first and must not move __path__
            if spec.submodule_search_locations is None or b"__path__" in source:
                return True
            search = list(spec.submodule_search_locations)
        elif word in source or b"import *" in source:
            return True
    return False


def _unknown_hook_message(pm: pluggy.PluginManager, plugin: object) -> str:
    import difflib

    from trainmaster import hookspecs

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


def lazy(path: str, *, with_arguments: bool = True) -> Callable[..., Any]:
    """A factory for a ``register_*`` hook that imports ``"module:attribute"`` only when called.

    Listing what plugins provide (``trainmaster --help``, ``trainmaster plugins``) then
    imports none of their heavy dependencies. The factory calls the attribute with the
    factory's own arguments, or with none when ``with_arguments`` is false (a publisher
    class that takes no config, for instance)::

        register("acme", lazy("acme_plugin.target:AcmeTarget"))
    """
    module_name, _, attribute = path.partition(":")

    def factory(*args: Any, **kwargs: Any) -> Any:
        made = getattr(importlib.import_module(module_name), attribute)
        return made(*args, **kwargs) if with_arguments else made()

    factory.__qualname__ = factory.__name__ = f"lazy({path!r})"
    return factory


def lazy_hook(name: str, path: str, *, with_arguments: bool = True, doc: str = "") -> Any:
    """A ``register_targets``/``register_ledgers``/``register_publishers`` hook implementation
    that registers ``lazy(path)`` (see :func:`lazy`) as ``name``. In the adapter module::

        register_targets = lazy_hook("acme", "acme_plugin._target:AcmeTarget")

    pluggy matches the implementation by the module attribute it is assigned to.
    """
    from trainmaster.hookspecs import hookimpl

    @hookimpl
    def register_one(register: Callable[[str, Any], None]) -> None:
        register(name, lazy(path, with_arguments=with_arguments))

    register_one.__doc__ = doc or f"``{name}``: ``{path}``."
    return register_one


def schema_hook(block: str, schema: str) -> Any:
    """The ``register_config_schema`` hook implementation of the settings block ``block``.

    ``schema`` is ``"module:attribute"`` of the block's JSON Schema, a module that imports
    nothing heavy (imported when the hook is called)::

        register_config_schema = schema_hook("acme", "acme_plugin._schema:SCHEMA")
    """
    from trainmaster.hookspecs import hookimpl

    module_name, _, attribute = schema.partition(":")

    @hookimpl
    def register_config_schema(register: Callable[[str, dict[str, Any]], None]) -> None:
        register(block, getattr(importlib.import_module(module_name), attribute))

    register_config_schema.__doc__ = f"The ``{block}:`` settings block."
    return register_config_schema


def target_hooks(block: str, schema: str, target: str, name: str | None = None) -> tuple[Any, Any]:
    """The two hook implementations of an adapter that adds one settings block and one target.

    ``schema`` is as for :func:`schema_hook`, ``target`` the ``"module:Class"`` of the target
    (imported on first use, see :func:`lazy`), ``name`` the target's name (default: ``block``).
    In the adapter module::

        register_config_schema, register_targets = target_hooks(
            "awx", "trainmaster_awx._schema:SCHEMA", "trainmaster_awx._target:AwxTarget")
    """
    return schema_hook(block, schema), lazy_hook(name or block, target, doc=f"Target ``{name or block}``.")


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
