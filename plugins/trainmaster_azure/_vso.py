"""Azure Pipelines logging commands (``##vso[area.action key=value;...]message``).

The escaping is exactly azure-pipelines-task-lib's (``node/taskcommand.ts``): property
values escape ``%`` (as ``%AZP25``), CR, LF, ``]`` and ``;``; the message escapes ``%``,
CR and LF. Properties with an empty value are left out, as task-lib does. A test
parses these lines back with task-lib's own ``commandFromString``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

PREFIX = "##vso["


def escape_property(value: str) -> str:
    """Escape a property value the way task-lib's ``escape`` does."""
    return (
        value.replace("%", "%AZP25").replace("\r", "%0D").replace("\n", "%0A").replace("]", "%5D").replace(";", "%3B")
    )


def escape_data(value: str) -> str:
    """Escape a command's message the way task-lib's ``escapedata`` does."""
    return value.replace("%", "%AZP25").replace("\r", "%0D").replace("\n", "%0A")


def format_command(command: str, properties: Mapping[str, str | None] | None = None, message: str = "") -> str:
    """One logging command line (without the trailing newline).

    :param command: ``area.action``, such as ``task.setvariable``.
    :param properties: key/value pairs; empty or ``None`` values are skipped.
    :param message: the data after ``]``.
    """
    line = PREFIX + command
    props = [(k, v) for k, v in (properties or {}).items() if v]
    if props:
        line += " " + "".join(f"{key}={escape_property(str(value))};" for key, value in props)
    return line + "]" + escape_data(message)


class VsoWriter:
    """Writes logging commands to a sink (stdout by default), one per line."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write

    def command(self, command: str, properties: Mapping[str, str | None] | None = None, message: str = "") -> None:
        self._write(format_command(command, properties, message) + "\n")

    def set_variable(self, name: str, value: str, *, is_output: bool = True, is_secret: bool = False) -> None:
        self.command(
            "task.setvariable",
            {
                "variable": name,
                "isOutput": "true" if is_output else None,
                "issecret": "true" if is_secret else None,
            },
            value,
        )

    def set_secret(self, value: str) -> None:
        self.command("task.setsecret", None, value)

    def log_issue(
        self,
        kind: str,
        message: str,
        *,
        source_path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        code: str | None = None,
    ) -> None:
        self.command(
            "task.logissue",
            {
                "type": kind,
                "sourcepath": source_path,
                "linenumber": str(line) if line is not None else None,
                "columnnumber": str(column) if column is not None else None,
                "code": code,
            },
            message,
        )

    def complete(self, result: str, message: str = "") -> None:
        self.command("task.complete", {"result": result}, message)

    def add_attachment(self, kind: str, name: str, path: str) -> None:
        self.command("task.addattachment", {"type": kind, "name": name}, path)

    def upload_artifact(self, artifact: str, folder: str, path: str) -> None:
        self.command("artifact.upload", {"containerfolder": folder, "artifactname": artifact}, path)
