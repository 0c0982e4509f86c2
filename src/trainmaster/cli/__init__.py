"""The ``trainmaster`` command line: the root group and the one place errors become exit codes.

Commands live in small modules by group (``release.py``, ``deploy.py``,
``info.py``, ``audit.py``) and import the core lazily, so ``--help`` and
``--version`` stay fast.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from trainmaster import __version__
from trainmaster.cli import approvals, audit, board, deploy, deployment, duties, info, ops, release
from trainmaster.cli.common import current_app


class _Group(click.Group):
    """Adds plugin commands (``register_commands``) on first use, not at import."""

    _plugins_loaded = False

    def _load_plugin_commands(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from trainmaster.plugins import register_commands

        register_commands(self)  # imports only the plugins that may add commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and not self._plugins_loaded:
            self._load_plugin_commands()
            command = super().get_command(ctx, cmd_name)
            if command is None:  # perhaps the command of a plugin that failed to load: name it
                from trainmaster.plugins import warn_load_errors

                warn_load_errors()
        return command


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", metavar="PATH", envvar="TRAINMASTER_CONFIG",
              help="Config file (default ./trainmaster.yaml, or $TRAINMASTER_CONFIG).")
@click.option("--color", "color", type=click.Choice(("auto", "always", "never")), default=None,
              help="Colour human output: auto (on a terminal, unless NO_COLOR is set), always, never.")
@click.version_option(version=__version__, message="trainmaster %(version)s", prog_name="trainmaster")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, color: str | None) -> None:
    """Build once, deploy many: immutable sha256-pinned releases promoted through a train.

    \b
    Exit codes: 0 done, 1 deployment failed, 2 invalid input or config,
    3 refused by the train or a gate, 4 integrity violation, 5 remote unavailable.
    """
    import os

    from trainmaster import _output
    from trainmaster.config._values import check_env_numbers

    _output.reset()
    check_env_numbers(os.environ)
    ctx.obj = {"config": config_path, "color": color}


for module in (info, release, deploy, deployment, approvals, ops, duties, audit, board):
    module.register(cli)


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; every expected error becomes one line on stderr and its exit code.

    Error messages echo arguments and remote data: they go out through
    :func:`trainmaster._output.echo`, made inert for the CI log like all other output.
    """
    from trainmaster._output import echo
    from trainmaster.errors import ConfigError, ConfigErrors, TrainmasterError

    _sigterm_is_an_interrupt()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="trainmaster", standalone_mode=False)
    except TrainmasterError as exc:
        found = list(exc.errors) if isinstance(exc, ConfigErrors) else [exc]  # every problem, one line each
        app = current_app()
        if app is not None:
            try:
                for error in found:
                    if isinstance(error, ConfigError):
                        message = error.message
                        if error.suggestion and "did you mean" not in message:
                            message += f" — did you mean '{error.suggestion}'?"
                        app.ci.error(message, file=error.file, line=error.line, column=error.column)
                    else:
                        app.ci.error(str(error))
            except Exception:
                pass
        for line in exc.lines() if isinstance(exc, ConfigErrors) else [str(exc)]:
            echo(f"error: {line}", err=True)
        _json_error(args, exc, exc.exit_code)
        _complete(exc.exit_code, str(exc))
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        _show(exc)
        code = 2 if isinstance(exc, click.UsageError) else exc.exit_code
        _json_error(args, exc, code)
        sys.exit(code)
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:  # click turns Ctrl-C into Abort
        if isinstance(exc, Terminated) or isinstance(exc.__cause__, Terminated):
            echo("terminated (SIGTERM)", err=True)
            sys.exit(143)
        echo("interrupted (SIGINT)", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as exc:  # the state directory or a file cannot be read or written
        from trainmaster.errors import from_os_error

        _fail(from_os_error(exc), args)
    except Exception as exc:
        import sqlite3

        if not isinstance(exc, sqlite3.DatabaseError):
            raise
        from trainmaster.ledger_lock import explain_error

        _fail(explain_error(exc, _state_dir()), args)
    _complete(0, "")
    sys.exit(0)


def _json_error(args: list[str], exc: BaseException, code: int) -> None:
    """With ``--json``, the failure as one ``{"error": …}`` object on stdout (unless one was printed)."""
    from trainmaster import _output
    from trainmaster.errors import error_json

    if _output.json_pending(args):
        import json

        _output.write_json(json.dumps(error_json(exc, code), indent=2, ensure_ascii=False) + "\n")


def _fail(exc: Exception, args: list[str]) -> None:
    from trainmaster._output import echo

    code = getattr(exc, "exit_code", 2)
    echo(f"error: {exc}", err=True)
    _json_error(args, exc, code)
    _complete(code, str(exc))
    sys.exit(code)


def _state_dir() -> Any:
    app = current_app()
    try:
        return app.state_dir if app is not None else None
    except Exception:
        return None


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI cancellation): handled like Ctrl-C, but exits 143 (128 + 15) instead of 130."""


def _show(exc: click.ClickException) -> None:
    """Click's usage message (it quotes the arguments given), made inert for the CI log."""
    import io

    from trainmaster._output import echo

    buffer = io.StringIO()
    exc.show(file=buffer)
    echo(buffer.getvalue(), nl=False, err=True)


def _sigterm_is_an_interrupt() -> None:
    """CI cancellation sends SIGTERM: treat it like Ctrl-C, so commands are stopped and the row recorded."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise Terminated

    try:
        signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (embedded use)
        pass


def _complete(exit_code: int, message: str) -> None:
    """Tell the CI context the command's outcome (Azure's ``task.complete``), if it wants to know."""
    app = current_app()
    complete = getattr(app.__dict__.get("ci"), "complete", None) if app is not None else None
    if complete is not None:
        try:
            complete(exit_code, message)
        except Exception:
            pass
