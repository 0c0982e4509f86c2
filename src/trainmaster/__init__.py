"""trainmaster: build once, deploy many.

Plugin authors need only :data:`hookimpl`::

    from trainmaster import hookimpl

    @hookimpl
    def register_targets(register):
        register("my-target", MyTarget)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["__version__", "hookimpl"]

__version__ = "0.1.0"  # the one place the version lives (pyproject reads it)

if TYPE_CHECKING:
    from trainmaster.hookspecs import hookimpl


def __getattr__(name: str) -> Any:
    if name == "hookimpl":
        from trainmaster.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(name)
