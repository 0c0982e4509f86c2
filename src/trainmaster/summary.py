"""A Markdown summary of the train: a table of the environments and a Mermaid diagram.

CI contexts that have a summary page (GitHub's job summary, Azure's build summary
attachment) receive it through :meth:`CIContext.summary` after each command that
changes or reports where releases stand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainmaster.app import App

_ICON = {"succeeded": "✅", "failed": "❌", "in_progress": "⏳", "interrupted": "⚠️", "cancelled": "🚫",
         "pending": "⏸️", "none": "—"}


def _node_id(name: str) -> str:
    return "env_" + "".join(c if c.isalnum() else "_" for c in name)


def _label(text: str) -> str:
    return text.replace('"', "'").replace("<", "‹").replace(">", "›")


def render(project: str, stages: list[tuple[str, list[str]]], rows: list[dict[str, Any]],
           focus: str | None = None) -> str:
    """Markdown for ``rows`` (``status --json`` rows); ``focus`` highlights one version's position."""
    by_name = {row["name"]: row for row in rows}
    lines = [f"### trainmaster · {project}" + (f" · {focus}" if focus else ""), "",
             "| environment | stage | version | status | pending |", "|---|---|---|---|---|"]
    for row in rows:
        pending = "<br>".join(_label(p) for p in row["pending"]) or "—"
        lines.append(f"| {row['name']} | {row['stage']} | {row['version'] or '—'} | "
                     f"{_ICON.get(row['status'], '')} {row['status']} | {pending} |")
    lines += ["", "```mermaid", "flowchart LR"]
    previous: list[str] = []
    for index, (stage, envs) in enumerate(stages):
        ids = [_node_id(e) for e in envs]
        if len(envs) > 1:
            lines.append(f'  subgraph stage_{index}["{_label(stage)}"]')
        for env, node in zip(envs, ids, strict=True):
            row = by_name.get(env, {})
            version = row.get("version") or "—"
            status = row.get("status", "none")
            lines.append(f'  {"  " if len(envs) > 1 else ""}{node}["{_label(env)}<br/>{_label(version)} '
                         f'{_ICON.get(status, "")}"]')
        if len(envs) > 1:
            lines.append("  end")
        for before in previous:
            for node in ids:
                lines.append(f"  {before} --> {node}")
        previous = ids
    lines += ["  classDef succeeded fill:#d4f7d4,stroke:#2a7d2a", "  classDef failed fill:#f7d4d4,stroke:#a33",
              "  classDef focus stroke-width:3px,stroke:#1f6feb"]
    for row in rows:
        if row["status"] in ("succeeded", "failed"):
            lines.append(f"  class {_node_id(row['name'])} {row['status']}")
        if focus and row.get("version") == focus:
            lines.append(f"  class {_node_id(row['name'])} focus")
    lines += ["```", ""]
    return "\n".join(lines)


def publish_summary(app: App, focus: str | None = None) -> None:
    """Compute the status rows and hand the summary to the CI context (a no-op outside CI)."""
    from trainmaster.cli.info import environment_status

    rows = environment_status(app)
    stages = [(s.name, [e.name for e in s.environments]) for s in app.config.stages]
    app.ci.summary(render(app.config.project, stages, rows, focus))
