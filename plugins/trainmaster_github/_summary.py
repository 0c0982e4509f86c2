"""The job summary: a table of the environments and a Mermaid diagram of the train.

The diagram shows where *this* release stands: environments where it succeeded,
the one acted on now, those holding another release, and those it has not reached.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["EnvRow", "render_summary"]

_ICONS = {
    "succeeded": "✅",
    "failed": "❌",
    "in_progress": "⏳",
    "pending": "⏸️",
    "interrupted": "⚠️",
    "cancelled": "🚫",
}


@dataclass(frozen=True)
class EnvRow:
    """One environment's line: its stage and what it holds (the shape of ``status --json``)."""

    name: str
    stage: str
    version: str | None = None
    release_id: str | None = None
    status: str | None = None
    url: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EnvRow:
        return cls(
            name=str(data["name"]),
            stage=str(data.get("stage") or data["name"]),
            version=data.get("version"),
            release_id=data.get("release_id"),
            status=data.get("status"),
            url=data.get("url") or data.get("environment_url"),
        )


def _md(text: str | None) -> str:
    """Table-cell safe text: no pipes, no HTML, no line breaks."""
    if not text:
        return "—"
    return html.escape(text).replace("|", "\\|").replace("\n", " ").replace("`", "'")


def _mermaid_label(text: str) -> str:
    return html.escape(text, quote=False).replace('"', "#quot;").replace("\n", " ")


def _state(row: EnvRow, release_id: str | None, current: str | None) -> str:
    if row.name == current:
        return "here"
    if release_id and row.release_id == release_id:
        return "done" if row.status == "succeeded" else ("failed" if row.status == "failed" else "here")
    if row.release_id:
        return "other"
    return "empty"


def render_summary(
    rows: Sequence[EnvRow],
    *,
    project: str,
    version: str | None = None,
    release_id: str | None = None,
    current: str | None = None,
    headline: str | None = None,
    release_url: str | None = None,
    run_url: str | None = None,
) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY``.

    :param rows: every environment, in train order.
    :param version: the release this step acted on (its position is highlighted).
    :param current: the environment this step deployed to, if any.
    :param headline: one sentence on what happened ("deployed 1.2.3 to test: succeeded").
    """
    out = [f"### trainmaster · {_md(project)}" + (f" {_md(version)}" if version else ""), ""]
    if headline:
        out += [_md(headline), ""]
    links = []
    if release_url:
        links.append(f"[GitHub release]({release_url})")
    if run_url:
        links.append(f"[workflow run]({run_url})")
    if release_id:
        links.append(f"release id `{release_id[:19]}…`")
    if links:
        out += [" · ".join(links), ""]
    out += ["| stage | environment | version | status |", "|---|---|---|---|"]
    for row in rows:
        name = f"[{_md(row.name)}]({row.url})" if row.url else _md(row.name)
        marker = " ◀" if row.name == current else ""
        status = f"{_ICONS.get(row.status or '', '')} {_md(row.status)}".strip()
        out.append(f"| {_md(row.stage)} | {name}{marker} | {_md(row.version)} | {status} |")
    out += ["", _mermaid(rows, release_id, current), ""]
    return "\n".join(out)


def _mermaid(rows: Sequence[EnvRow], release_id: str | None, current: str | None) -> str:
    lines = ["```mermaid", "flowchart LR"]
    stages: list[tuple[str, list[tuple[int, EnvRow]]]] = []
    for index, row in enumerate(rows):
        if not stages or stages[-1][0] != row.stage:
            stages.append((row.stage, []))
        stages[-1][1].append((index, row))
    anchors: list[list[str]] = []
    for s_index, (stage, members) in enumerate(stages):
        ids = []
        grouped = len(members) > 1
        if grouped:
            lines.append(f'  subgraph s{s_index}["{_mermaid_label(stage)}"]')
        for index, row in members:
            parts = [_mermaid_label(row.name)]
            if row.version:
                icon = _ICONS.get(row.status or "", "")
                parts.append(_mermaid_label(f"{row.version} {icon}".strip()))
            label = "<br/>".join(parts)
            state = _state(row, release_id, current)
            lines.append(f'  {"  " if grouped else ""}e{index}["{label}"]:::{state}')
            ids.append(f"e{index}")
        if grouped:
            lines.append("  end")
        anchors.append([f"s{s_index}"] if grouped else ids)
    for left, right in zip(anchors, anchors[1:], strict=False):
        lines.append(f"  {left[0]} --> {right[0]}")
    lines += [
        "  classDef done fill:#d1f0d8,stroke:#1a7f37,color:#000",
        "  classDef here fill:#fff3c4,stroke:#9a6700,stroke-width:3px,color:#000",
        "  classDef failed fill:#ffd7d5,stroke:#cf222e,color:#000",
        "  classDef other fill:#eaeef2,stroke:#57606a,color:#000",
        "  classDef empty fill:#ffffff,stroke:#8c959f,stroke-dasharray:4 3,color:#000",
        "```",
    ]
    return "\n".join(lines)
