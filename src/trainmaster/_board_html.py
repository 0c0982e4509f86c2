"""The release board as one self-contained HTML page: inline CSS and SVG, no script, no network.

Every datum goes through :func:`_e` (HTML-escaped, quotes included), whether it sits in text, in
an attribute or in the SVG: versions, actors, comments and gate reasons may come from a remote
system. The page also forbids scripts and every network fetch by its Content-Security-Policy.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainmaster.board import Board
    from trainmaster.status import EnvironmentStatus

__all__ = ["render"]

LABELS = {
    "live": "live", "deployed": "deployed", "failed": "failed", "in_progress": "deploying",
    "pending": "held remotely", "interrupted": "interrupted", "cancelled": "cancelled",
    "waiting": "waiting", "ready": "ready", "succeeded": "succeeded", "none": "",
}

CSS = """
:root{--ok:#1a7f37;--okbg:#dafbe1;--bad:#cf222e;--badbg:#ffebe9;--warn:#9a6700;--warnbg:#fff8c5;
--muted:#57606a;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1200px;padding:16px;font:15px/1.45 system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2328;background:#fff}
h1{font-size:1.5rem;margin:0 0 4px}h2{font-size:1.15rem;margin:28px 0 8px}
.meta{color:var(--muted);font-size:.85rem;overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
th{background:var(--bg);font-weight:600}
code,.hash{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.cell{font-weight:600;white-space:nowrap}
#matrix{width:auto;min-width:60%}#matrix td{min-width:7em}#matrix th{max-width:12em;overflow-wrap:anywhere}
.s-live,.s-succeeded{background:var(--okbg);color:var(--ok)}
.s-deployed{color:var(--ok)}
.s-failed,.s-interrupted,.s-cancelled{background:var(--badbg);color:var(--bad)}
.s-waiting,.s-pending,.s-in_progress{background:var(--warnbg);color:var(--warn)}
.s-ready{color:var(--warn)}
.s-none{color:#8c959f;font-weight:400}
.why{display:block;font-weight:400;font-size:.8rem;white-space:normal;overflow-wrap:anywhere;color:#1f2328;
max-width:22em}
.empty{color:var(--muted);font-style:italic}
svg{display:block;width:100%;height:auto}svg.narrow{display:none}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
.legend span{display:inline-block;margin:2px 8px 2px 0;padding:0 6px;border-radius:4px;font-size:.8rem}
@media (max-width:640px){
 svg.wide{display:none}svg.narrow{display:block}
 body{padding:10px;font-size:14px}
 table.cards,table.cards tbody,table.cards tr,table.cards td{display:block;width:100%}
 table.cards thead{display:none}
 table.cards tr{border:1px solid var(--line);border-radius:6px;margin:0 0 10px;padding:4px 0}
 table.cards td{border:0;padding:2px 10px;overflow-wrap:anywhere}
 table.cards td::before{content:attr(data-label);display:inline-block;min-width:9em;padding-right:6px;
 color:var(--muted);font-weight:600}
 th,td{padding:4px 5px}
}
"""

FILL = {
    "succeeded": ("#dafbe1", "#1a7f37"), "failed": ("#ffebe9", "#cf222e"), "interrupted": ("#ffebe9", "#cf222e"),
    "cancelled": ("#ffebe9", "#cf222e"), "in_progress": ("#fff8c5", "#9a6700"), "pending": ("#fff8c5", "#9a6700"),
}


def _e(value: object) -> str:
    """Text made inert for HTML text, attributes and SVG (``&``, ``<``, ``>``, both quotes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _short(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _when(at: str | None) -> str:
    return (at or "")[:19].replace("T", " ")


def _duration(start: str, end: str | None) -> str:
    from trainmaster.model import parse_time
    from trainmaster.status import duration

    if not end:
        return "running" if start else ""
    try:
        return duration(max(0.0, (parse_time(end) - parse_time(start)).total_seconds()))
    except ValueError:
        return ""


def _table(cls: str, headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    """A table whose cells are already HTML; with ``cards`` it becomes one card per row on a phone."""
    body = ["<tr>" + "".join(f'<td data-label="{_e(h)}">{c}</td>' for h, c in zip(headers, row, strict=True))
            + "</tr>" for row in rows]
    if not body:
        return f'<p class="empty">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return (f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _stages(rows: Sequence[EnvironmentStatus]) -> list[tuple[str, list[EnvironmentStatus]]]:
    stages: list[tuple[str, list[EnvironmentStatus]]] = []
    for row in rows:
        if not stages or stages[-1][0] != row.stage:
            stages.append((row.stage, []))
        stages[-1][1].append(row)
    return stages


def _box(row: EnvironmentStatus, x: int, y: int) -> str:
    fill, stroke = FILL.get(row.status, ("#ffffff", "#8c959f"))
    dash = ' stroke-dasharray="5 4"' if row.status == "none" else ""
    state = f"{row.version} · {LABELS.get(row.status, row.status)}" if row.version else "never deployed"
    nxt = f"next {row.next}: {'waiting' if row.pending else 'ready'}" if row.next else ""
    failure = row.last_failure or {}
    if not nxt and failure:
        back = ", rolled back" if failure.get("rolled_back_by") else ""
        nxt = f"{failure.get('version')} {failure.get('status')}{back}"
    return (f'<g class="env"><title>{_e(row.name)}: {_e(state)}{_e("; " + row.waiting() if row.next else "")}'
            f'</title><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="2"{dash}/>'
            f'<text x="{x + 10}" y="{y + 22}" font-size="15" font-weight="700" fill="#1f2328">'
            f'{_e(_short(row.name, 18))}</text>'
            f'<text x="{x + 10}" y="{y + 43}" font-size="13" fill="#1f2328">{_e(_short(state, 23))}</text>'
            f'<text x="{x + 10}" y="{y + 62}" font-size="12" fill="#9a6700">{_e(_short(nxt, 25))}</text></g>')


BOX_W, BOX_H, GAP, SLOT_GAP, TOP = 190, 74, 56, 14, 30


def train_svg(rows: Sequence[EnvironmentStatus], *, vertical: bool = False) -> str:
    """The train as a diagram: one column per stage (one row per stage when ``vertical``, for a
    phone), the stage's environments side by side, arrows from stage to stage."""
    stages = _stages(rows)
    wide = max([len(m) for _, m in stages] + [1])
    along, across = len(stages) or 1, wide
    if vertical:
        width = 20 + across * (BOX_W + SLOT_GAP) - SLOT_GAP
        height = along * (TOP + BOX_H + GAP) - GAP + 4
    else:
        width = 20 + along * (BOX_W + GAP) - GAP
        height = TOP + across * (BOX_H + SLOT_GAP) + 4
    mark = "arrow-v" if vertical else "arrow-h"
    out = [f'<svg class="train {"narrow" if vertical else "wide"}" xmlns="http://www.w3.org/2000/svg" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="the train" style="max-width:{width}px">',
           f'<defs><marker id="{mark}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#57606a"/></marker></defs>']
    for index, (stage, members) in enumerate(stages):
        if vertical:
            x0, y0 = 10, index * (TOP + BOX_H + GAP) + TOP
        else:
            x0, y0 = 10 + index * (BOX_W + GAP), TOP
        out.append(f'<text x="{x0}" y="{y0 - 12}" font-size="13" fill="#57606a" font-weight="600">'
                   f'{_e(_short(stage, 26))}</text>')
        for slot, row in enumerate(members):
            step = slot * ((BOX_W if vertical else BOX_H) + SLOT_GAP)
            out.append(_box(row, x0 + step, y0) if vertical else _box(row, x0, y0 + step))
        if index and vertical:
            x = x0 + BOX_W // 2
            out.append(f'<line x1="{x}" y1="{y0 - GAP - TOP + 4}" x2="{x}" y2="{y0 - 4 - 18}" '
                       f'stroke="#57606a" stroke-width="2" marker-end="url(#{mark})"/>')
        elif index:
            y = y0 + BOX_H // 2
            out.append(f'<line x1="{x0 - GAP + 4}" y1="{y}" x2="{x0 - 4}" y2="{y}" stroke="#57606a" '
                       f'stroke-width="2" marker-end="url(#{mark})"/>')
    out.append("</svg>")
    return "".join(out)


def _matrix(board: Board) -> str:
    if not board.releases:
        return '<p class="empty">no releases yet</p>'
    head = "".join(f"<th>{_e(r.name)}</th>" for r in board.rows)
    body = []
    for rel in board.releases:
        cells = []
        for row in board.rows:
            cell = board.cell(rel.release_id, row.name)
            why = f'<span class="why">{_e(cell.note)}</span>' if cell.note else ""
            cells.append(f'<td class="cell s-{_e(cell.state)}" data-release="{_e(rel.version)}" '
                         f'data-env="{_e(row.name)}" data-state="{_e(cell.state)}" title="{_e(cell.detail)}">'
                         f'{_e(LABELS.get(cell.state, cell.state)) or "·"}{why}</td>')
        by = f" by {rel.created_by}" if rel.created_by else ""
        body.append(f'<tr><th title="{_e(rel.release_id)}{_e(by)}">{_e(rel.version)}</th>{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table id="matrix"><thead><tr><th>release</th>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _approvals(board: Board) -> str:
    rows = []
    for p in board.approvals:
        given = "; ".join(f"{a} ({_when(at)}{': ' + c if c else ''})" for a, at, c in p.approved_by)
        count = "on the remote system" if p.remote else f"{len(p.approved_by)} of {p.needed}"
        count += f" ({p.rejected})" if p.rejected else ""
        rows.append([_e(p.version), _e(p.environment), _e(count), _e(given or "—"), _e(p.may_approve)])
    return _table("cards", ["release", "environment", "approvals", "given by", "who may approve"], rows,
                  "no approvals pending")


def _deployments(board: Board) -> str:
    rows = []
    for d in board.deployments:
        outcome = f'<span class="cell s-{_e(d.status)}">{_e(LABELS.get(d.status, d.status))}</span>'
        reason = board.reasons.get(d.id)
        if reason:
            outcome += f'<span class="why">{_e(reason)}</span>'
        rows.append([_e(f"#{d.id}"), _e(d.environment), _e(d.version), _e(d.kind), outcome, _e(d.actor),
                     _e(_when(d.started_at)), _e(_duration(d.started_at, d.finished_at))])
    return _table("cards", ["id", "environment", "release", "kind", "outcome", "actor", "started (UTC)", "took"],
                  rows, "no deployments yet")


def _audit(board: Board) -> str:
    rows = [[_e(seq), _e(_when(at)), _e(actor), _e(kind), _e(subject),
             f'<span class="hash" title="{_e(h)}">{_e(_short(h, 23))}</span>']
            for seq, at, actor, kind, subject, h in board.audit]
    head = (f'<p class="meta">head <span class="hash">{_e(board.audit[0][5])}</span> ({board.audit[0][0]} events); '
            "check it with <code>trainmaster audit verify --expect-head HASH</code></p>") if board.audit else ""
    return head + _table("cards", ["#", "at (UTC)", "actor", "event", "subject", "hash"], rows, "no events yet")


def render(board: Board) -> str:
    """The whole page (UTF-8 text)."""
    legend = "".join(f'<span class="s-{s}">{_e(LABELS[s])}</span>'
                     for s in ("live", "deployed", "failed", "waiting", "ready", "in_progress", "pending"))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{_e(board.project)} · release board</title>
<style>{CSS}</style></head>
<body>
<header><h1>{_e(board.project)} · release board</h1>
<p class="meta">generated {_e(_when(board.generated_at))} UTC by trainmaster · ledger {_e(board.ledger)}</p></header>
<main>
<section id="train"><h2>The train</h2>{train_svg(board.rows)}{train_svg(board.rows, vertical=True)}</section>
<section id="releases"><h2>Releases × environments</h2><p class="legend">{legend}</p>{_matrix(board)}</section>
<section id="approvals"><h2>Pending approvals</h2>{_approvals(board)}</section>
<section id="deployments"><h2>Last deployments</h2>{_deployments(board)}</section>
<section id="audit"><h2>Audit log head</h2>{_audit(board)}</section>
</main>
</body></html>
"""
