"""The Azure Pipelines runner protocol: who acts, where the build came from, ``##vso`` output.

Azure Pipelines sets ``TF_BUILD=True`` on every agent job. Inside a classic release
stage it also sets ``RELEASE_RELEASEID`` and ``RELEASE_ENVIRONMENTNAME``; the adapter
then never starts a stage itself (it would trigger itself) and deploys the artefacts the
agent downloaded for that stage.
"""

from __future__ import annotations

import getpass
import itertools
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from trainmaster_azure._vso import VsoWriter

__all__ = ["AzurePipelinesContext", "detect", "output_name"]

SUMMARY_TYPE = "Distributedtask.Core.Summary"
TASK_MARKER = "TRAINMASTER_AZURE_TASK"
"""Set by the task's Node shim: the shim then reports the result through ``setResult``."""

_RESULTS = {0: "Succeeded"}


def output_name(name: str) -> str:
    """``release_id`` / ``release-id`` / ``releaseId`` → ``releaseId`` (the task's output names)."""
    parts = [p for p in name.replace("-", "_").split("_") if p]
    if not parts:
        return name
    return parts[0][:1].lower() + parts[0][1:] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def detect(environ: Mapping[str, str]) -> AzurePipelinesContext | None:
    """The Azure Pipelines context when ``TF_BUILD`` is ``True`` (any case), else None."""
    if environ.get("TF_BUILD", "").strip().lower() != "true":
        return None
    return AzurePipelinesContext(environ)


class AzurePipelinesContext:
    """:class:`trainmaster.interfaces.CIContext` for an Azure Pipelines agent job.

    :param environ: the process environment (predefined variables, upper case with ``_``).
    :param write: where logging commands go (stdout: the agent reads them there).
    """

    name = "azure-pipelines"
    in_ci = True

    def __init__(self, environ: Mapping[str, str], write: Callable[[str], None] | None = None) -> None:
        self.environ = dict(environ)
        self._write = write or _stdout
        self.vso = VsoWriter(self._write)
        self._masked: set[str] = set()
        self._summaries = itertools.count(1)

    # -- where are we ----------------------------------------------------------------------
    @property
    def in_release_stage(self) -> bool:
        """True inside a classic release stage (``RELEASE_RELEASEID`` and ``RELEASE_ENVIRONMENTNAME``)."""
        return bool(self.environ.get("RELEASE_RELEASEID") and self.environ.get("RELEASE_ENVIRONMENTNAME"))

    @property
    def under_task(self) -> bool:
        """True when the trainmaster task's shim runs this process (it reports the result)."""
        return bool(self.environ.get(TASK_MARKER))

    def _get(self, *names: str) -> str | None:
        for name in names:
            value = self.environ.get(name, "").strip()
            if value:
                return value
        return None

    # -- CIContext ---------------------------------------------------------------------------
    def actor(self) -> str:
        """The e-mail of whoever requested the run (the release deployment's, inside a stage)."""
        names: tuple[str, ...] = ("BUILD_REQUESTEDFOREMAIL", "BUILD_REQUESTEDFOR")
        if self.in_release_stage:
            names = (
                "RELEASE_DEPLOYMENT_REQUESTEDFOREMAIL",
                "RELEASE_REQUESTEDFOREMAIL",
                "RELEASE_DEPLOYMENT_REQUESTEDFOR",
                *names,
            )
        found = self._get(*names)
        if found:
            return found
        try:
            return getpass.getuser()
        except Exception:  # pragma: no cover - no user database (some containers)
            return "unknown"

    def build_url(self) -> str | None:
        collection, project, build = (
            self._get("SYSTEM_COLLECTIONURI"),
            self._get("SYSTEM_TEAMPROJECT"),
            self._get("BUILD_BUILDID"),
        )
        if not (collection and project and build):
            return None
        return f"{collection.rstrip('/')}/{quote(project)}/_build/results?buildId={quote(build)}"

    def source(self) -> dict[str, Any]:
        """Release metadata from the predefined build variables (never a secret)."""
        data: dict[str, Any] = {
            "ci": self.name,
            "commit": self._get("BUILD_SOURCEVERSION"),
            "branch": self._get("BUILD_SOURCEBRANCH"),
            "build_id": self._get("BUILD_BUILDID"),
            "build_number": self._get("BUILD_BUILDNUMBER"),
            "build_url": self.build_url(),
            "repository": self._get("BUILD_REPOSITORY_URI", "BUILD_REPOSITORY_NAME"),
            "pipeline": self._get("BUILD_DEFINITIONNAME"),
        }
        if self.in_release_stage:
            data["release_id"] = self._get("RELEASE_RELEASEID")
            data["release_environment"] = self._get("RELEASE_ENVIRONMENTNAME")
        return {k: v for k, v in data.items() if v is not None}

    def set_output(self, name: str, value: str) -> None:
        """``task.setvariable`` with ``isOutput=true``; ``release_id`` becomes ``releaseId``."""
        self.vso.set_variable(output_name(name), value, is_output=True)

    def mask(self, value: str) -> None:
        """``task.setsecret``; a multi-line value is masked line by line unless the agent allows it whole."""
        if not value:
            return
        values = [value]
        if ("\n" in value or "\r" in value) and self.environ.get(
            "SYSTEM_UNSAFEALLOWMULTILINESECRET", ""
        ).lower() != "true":
            values = [line.strip("\r") for line in value.splitlines() if line.strip("\r")]
        for item in values:
            if item not in self._masked:
                self._masked.add(item)
                self.vso.set_secret(item)

    def summary(self, markdown: str) -> None:
        """Write ``markdown`` to a file and attach it as the run's summary tab."""
        import tempfile  # here: every command asks whether this is Azure Pipelines, few write a summary

        folder = Path(self._get("AGENT_TEMPDIRECTORY") or tempfile.gettempdir())
        folder.mkdir(parents=True, exist_ok=True)
        n = next(self._summaries)
        path = folder / f"trainmaster-summary-{os.getpid()}-{n}.md"
        path.write_text(markdown if markdown.endswith("\n") else markdown + "\n", encoding="utf-8")
        self.vso.add_attachment(SUMMARY_TYPE, "trainmaster" if n == 1 else f"trainmaster ({n})", str(path))

    def error(
        self, message: str, *, file: str | None = None, line: int | None = None, column: int | None = None
    ) -> None:
        self.vso.log_issue("error", self.data(message), source_path=file, line=line, column=column)

    def warning(self, message: str) -> None:
        self.vso.log_issue("warning", self.data(message))

    def data(self, text: str) -> str:
        """``text`` with ``##vso[`` and ``##[`` broken (``#＃vso[``): the agent reads those anywhere in a line."""
        from trainmaster._output import defuse

        return defuse(text, colons=False)

    def complete(self, exit_code: int, message: str = "") -> None:
        """``task.complete`` for the command's exit code; left to the shim when it runs us."""
        if self.under_task:
            return
        self.vso.complete(_RESULTS.get(exit_code, "Failed"), self.data(message))


def _stdout(text: str) -> None:
    from trainmaster._output import ci_command

    ci_command(text)
