"""``board``: the release board, one self-contained HTML page."""

from __future__ import annotations

import click

from trainmaster._output import echo
from trainmaster.cli.common import emit_json, get_app, json_option


def register(cli: click.Group) -> None:
    cli.add_command(board)


@click.command()
@click.option("--out", "out", metavar="DIR", required=True, type=click.Path(file_okay=False),
              help="Folder to write index.html into (created if missing).")
@click.option("--releases", type=click.IntRange(min=1, max=500), default=20, show_default=True,
              help="How many of the newest releases the matrix shows.")
@json_option
@click.pass_context
def board(ctx: click.Context, out: str, releases: int, as_json: bool) -> None:
    """Write the release board (DIR/index.html): the train, releases x environments, pending approvals,
    the last deployments and the audit head. No script, no network: publish it as a CI artefact or on Pages."""
    import os
    from pathlib import Path

    from trainmaster._board_html import render
    from trainmaster.board import collect

    app = get_app(ctx)
    app.reap_interrupted(wait=False)
    data = collect(app, releases=releases)
    page = render(data)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "index.html"
    partial = folder / f".index.html.{os.getpid()}.tmp"
    try:
        partial.write_text(page, encoding="utf-8")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    if as_json:
        emit_json({"board": str(target), "releases": len(data.releases), "environments": len(data.rows),
                   "deployments": len(data.deployments), "pending_approvals": len(data.approvals)})
        return
    echo(f"board written to {target} ({len(data.releases)} releases, {len(data.rows)} environments)")
