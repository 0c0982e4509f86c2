"""The Markdown summary of the train: a table of the environments and a Mermaid diagram.

One renderer for every CI context with a summary page: GitHub's job summary
(``$GITHUB_STEP_SUMMARY``, written by the core after a deployment and by the GitHub
Action from ``status --json``) and Azure's build summary attachment. Contexts receive
the Markdown through :meth:`trainmaster.interfaces.CIContext.summary`.

Rendering never writes anything but the returned text: :func:`publish_summary` reads
the status rows (:func:`trainmaster.status.environment_status`) and hands the Markdown
to the CI context; a command that wants dead deployments reaped does so before.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainmaster.app import App
    from trainmaster.status import EnvironmentStatus

__all__ = ["publish_summary", "render"]

ICONS = {
    "succeeded": "✅",
    "failed": "❌",
    "in_progress": "⏳",
    "pending": "⏸️",
    "interrupted": "⚠️",
    "cancelled": "🚫",
}


def _md(text: str | None) -> str:
    """Table-cell safe text: no pipes, no HTML, no line breaks."""
    if not text:
        return "—"
    return html.escape(text).replace("|", "\\|").replace("\n", " ").replace("`", "'")


def _mermaid_label(text: str) -> str:
    return html.escape(text, quote=False).replace('"', "#quot;").replace("\n", " ")


def _state(row: EnvironmentStatus, release_id: str | None, version: str | None, current: str | None) -> str:
    """The node's class: ``here`` (acted on now), ``done``/``failed`` (the focused release's
    outcome), ``other`` (holds another release), ``empty`` (never deployed).

    Without a focused release, each environment shows its own latest outcome.
    """
    if row.name == current:
        return "here"
    focused = (release_id is not None and row.release_id == release_id) or (
        release_id is None and version is not None and row.version == version
    )
    if focused or (release_id is None and version is None and row.version):
        return {"succeeded": "done", "failed": "failed"}.get(row.status, "here" if focused else "other")
    return "other" if row.version or row.release_id else "empty"


def render(
    rows: Sequence[EnvironmentStatus],
    *,
    project: str,
    version: str | None = None,
    release_id: str | None = None,
    current: str | None = None,
    headline: str | None = None,
    links: Sequence[tuple[str, str | None]] = (),
) -> str:
    """Markdown for ``rows`` (every environment, in train order).

    :param version: the release this command acted on (its position is highlighted; matched by
        ``release_id`` when given, else by version).
    :param current: the environment this command deployed to, if any (marked ``◀``).
    :param headline: one sentence on what happened ("deploy 1.2.3 to test: succeeded").
    :param links: ``(text, url)`` pairs shown under the headline (the published release, the CI
        run); a pair without a URL is left out.
    """
    out = [f"### trainmaster · {_md(project)}" + (f" {_md(version)}" if version else ""), ""]
    if headline:
        out += [_md(headline), ""]
    shown = [f"[{_md(text)}]({url})" for text, url in links if url]
    if release_id:
        shown.append(f"release id `{release_id[:19]}…`")
    if shown:
        out += [" · ".join(shown), ""]
    out += ["| stage | environment | version | status | pending |", "|---|---|---|---|---|"]
    for row in rows:
        name = f"[{_md(row.name)}]({row.url})" if row.url else _md(row.name)
        marker = " ◀" if row.name == current else ""
        status = f"{ICONS.get(row.status, '')} {_md(row.status)}".strip()
        out.append(f"| {_md(row.stage)} | {name}{marker} | {_md(row.version)} | {status} | {_md(row.waiting())} |")
    notes = _notes(rows)
    if notes:
        out += [""] + notes
    out += ["", _mermaid(rows, release_id, version, current), ""]
    return "\n".join(out)


def _notes(rows: Sequence[EnvironmentStatus]) -> list[str]:
    """One bullet per fact of the status rows worth a look: where a strategy's instances stand (as
    ``status`` says it: "prod: 1.2.0 on 2 of 4 instances, rolling"), failures, bytes of earlier
    deployments, activity."""
    notes = []
    for row in rows:
        if row.rollout and row.rollout.get("text") and row.rollout.get("version"):  # something was deployed
            partial = row.rollout.get("on") != row.rollout.get("of")
            notes.append(f"- {_md(row.name)}: {'⚠️ ' if partial else ''}{_md(str(row.rollout['text']))}")
        failure = row.last_failure
        if failure:
            back = f"; rolled back by #{failure['rolled_back_by']}" if failure.get("rolled_back_by") else ""
            icon = ICONS.get(str(failure.get("status")), "")
            notes.append(f"- {_md(row.name)}: {icon} {_md(failure.get('version'))} "
                         f"{_md(failure.get('status'))} (deployment #{failure.get('deployment')}): "
                         f"{_md(failure.get('reason'))}{back}")
        held = (row.current or {}).get("deployment")
        for pkg in row.packages:
            if pkg.get("deployment") != held:
                notes.append(f"- {_md(row.name)}: {_md(pkg.get('name'))} holds the bytes of "
                             f"{_md(pkg.get('version'))} (deployment #{pkg.get('deployment')})")
        for act in row.active:
            notes.append(f"- {_md(row.name)}: {_md(act.get('state'))} {_md(act.get('version'))} by "
                         f"{_md(act.get('actor'))} since {_md(act.get('since'))}")
    return notes


def _mermaid(rows: Sequence[EnvironmentStatus], release_id: str | None, version: str | None,
             current: str | None) -> str:
    lines = ["```mermaid", "flowchart LR"]
    stages: list[tuple[str, list[tuple[int, EnvironmentStatus]]]] = []
    for index, row in enumerate(rows):
        if not stages or stages[-1][0] != row.stage:
            stages.append((row.stage, []))
        stages[-1][1].append((index, row))
    anchors: list[str] = []
    for s_index, (stage, members) in enumerate(stages):
        grouped = len(members) > 1
        if grouped:
            lines.append(f'  subgraph s{s_index}["{_mermaid_label(stage)}"]')
        for index, row in members:
            parts = [_mermaid_label(row.name)]
            if row.version:
                parts.append(_mermaid_label(f"{row.version} {ICONS.get(row.status, '')}".strip()))
            state = _state(row, release_id, version, current)
            lines.append(f'  {"  " if grouped else ""}e{index}["{"<br/>".join(parts)}"]:::{state}')
        if grouped:
            lines.append("  end")
        anchors.append(f"s{s_index}" if grouped else f"e{members[0][0]}")
    for left, right in zip(anchors, anchors[1:], strict=False):
        lines.append(f"  {left} --> {right}")
    lines += [
        "  classDef done fill:#d1f0d8,stroke:#1a7f37,color:#000",
        "  classDef here fill:#fff3c4,stroke:#9a6700,stroke-width:3px,color:#000",
        "  classDef failed fill:#ffd7d5,stroke:#cf222e,color:#000",
        "  classDef other fill:#eaeef2,stroke:#57606a,color:#000",
        "  classDef empty fill:#ffffff,stroke:#8c959f,stroke-dasharray:4 3,color:#000",
        "```",
    ]
    return "\n".join(lines)


def publish_summary(app: App, focus: str | None = None, *, current: str | None = None) -> None:
    """Hand the summary to the CI context (a no-op outside CI); ``focus`` is a version to highlight.

    Reads only: the command reaps interrupted deployments before, if it wants them shown. Nothing
    is read when the context writes no summary (``writes_summary`` false): with a remote ledger
    every row costs API calls.
    """
    if not getattr(app.ci, "writes_summary", True):
        return
    from trainmaster.status import environment_status

    rows = environment_status(app)
    app.ci.summary(render(rows, project=app.config.project, version=focus, current=current))
