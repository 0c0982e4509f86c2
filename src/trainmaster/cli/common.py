"""Helpers shared by the command modules."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from trainmaster import _output

if TYPE_CHECKING:
    from trainmaster.app import App
    from trainmaster.interfaces import CIContext

F = TypeVar("F", bound=Callable[..., Any])
_current: list[App] = []
_bare: list[App] = []


def current_app() -> App | None:
    return _current[-1] if _current else None


def current_ci() -> CIContext:
    """The CI context of this invocation (before any command has built its app: the environment's)."""
    app = current_app()
    if app is None:
        if not _bare:
            from trainmaster.app import App

            _bare.append(App())
        app = _bare[0]
    return app.ci


_output.use_context(current_ci)  # everything the CLI echoes is data for the CI log


def get_app(ctx: click.Context) -> App:
    """The :class:`App` for this invocation (config path from ``--config``)."""
    from trainmaster.app import App

    root = ctx.find_root()
    app = root.meta.get("trainmaster.app")
    if app is None:
        app = App(config_path=(root.obj or {}).get("config"))
        root.meta["trainmaster.app"] = app
        _current.append(app)
    return app


def _json_mode(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        from trainmaster._output import set_json_mode

        set_json_mode()
    return value


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, callback=_json_mode,
                        help="Print JSON (the documented shape) on stdout; CI logging commands go to stderr.")(fn)


def command_with(*decorators: Callable[[Any], Any]) -> Callable[[F], click.Command]:
    """``click.command()`` over ``decorators`` stacked in this order: options several commands share, written once."""
    def make(fn: F) -> click.Command:
        for decorate in reversed(decorators):
            fn = decorate(fn)
        return click.command()(fn)
    return make


def emit_json(data: Any) -> None:
    _output.write_json(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n")
