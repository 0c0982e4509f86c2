"""Reading a CI log back the way the runners do: which lines would they obey?

* GitHub Actions (the runner's documented rule, ``workflow-commands.md``): a line is a
  workflow command when it starts with ``::`` after leading whitespace, and the runner
  also reads the legacy ``##[name]data`` form anywhere in a line; after
  ``::stop-commands::TOKEN`` no line is a command until ``::TOKEN::`` (any case).
* Azure Pipelines: ``##vso[`` lines, parsed with azure-pipelines-task-lib's own
  ``commandFromString`` (the Node package of ``azure-pipelines-task/node_modules``).

Both readers are stricter than the runners: Unicode's default-ignorable code points are
removed first, as .NET's culture-sensitive string comparisons skip them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

TASK = Path(__file__).resolve().parents[2] / "azure-pipelines-task"
TASK_LIB = TASK / "node_modules" / "azure-pipelines-task-lib" / "taskcommand.js"

IGNORABLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
                       "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
                       "\U000e0000-\U000e0fff]")
LINES = re.compile(r"\r\n|\r|\n")  # .NET ReadLine


def visible(text: str) -> str:
    """``text`` as a culture-sensitive .NET comparison sees it (default-ignorable code points gone)."""
    return IGNORABLE.sub("", text)


def github_commands(text: str) -> list[tuple[str, str]]:
    """The ``(name, data)`` of every line the GitHub runner would obey (``stop-commands`` included)."""
    found: list[tuple[str, str]] = []
    token: str | None = None
    for raw in LINES.split(visible(text)):
        line = raw.lstrip()
        if token is not None:
            if line.lower() == f"::{token}::".lower():
                found.append((token, ""))
                token = None
            continue
        command: tuple[str, str] | None = None
        if line.startswith("::") and "::" in line[2:]:
            info, data = line[2:].split("::", 1)
            command = (info.split(" ", 1)[0], data)
        elif "##[" in raw and "]" in raw[raw.index("##[") :]:
            rest = raw[raw.index("##[") + 3 :]
            info, data = rest.split("]", 1)
            command = (info.split(" ", 1)[0], data)
        if command is None:
            continue
        found.append(command)
        if command[0] == "stop-commands":
            token = command[1]
    return found


PARSE = """
const { commandFromString } = require(process.argv[1]);
const lines = require('fs').readFileSync(0, 'utf8').split(/\\r\\n|\\r|\\n/);
console.log(JSON.stringify(lines.filter((l) => l.toLowerCase().includes('##vso[')).map((l) => {
  const c = commandFromString(l.slice(l.toLowerCase().indexOf('##vso[')));
  return { command: c.command, properties: c.properties, message: c.message };
})));
"""


def parse_vso(text: str) -> list[dict[str, Any]]:
    """Parse ``##vso`` lines with azure-pipelines-task-lib's own ``commandFromString``."""
    node = shutil.which("node")
    if node is None or not TASK_LIB.exists():
        if os.environ.get("CI"):
            pytest.fail("node and azure-pipelines-task/node_modules are needed: run azure-pipelines-task/build.sh")
        pytest.skip("node or azure-pipelines-task/node_modules missing (run azure-pipelines-task/build.sh)")
    done = subprocess.run([node, "-e", PARSE, str(TASK_LIB)], input=text, capture_output=True, text=True,
                          check=True)
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def azure_commands(text: str) -> list[dict[str, Any]]:
    """The ``##vso`` commands the agent would obey in ``text``, and its ``##[`` formatting lines."""
    seen = visible(text)
    formats = [{"command": "##[", "message": line} for line in LINES.split(seen) if "##[" in line]
    return parse_vso(seen) + formats
