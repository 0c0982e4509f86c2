"""The ``slack`` and ``teams`` presets: the same events shaped for those incoming webhooks.

:func:`describe` turns a trainmaster event (see :func:`trainmaster.webhook.build_event`)
into a title and a few facts; :func:`slack` and :func:`teams` wrap them:

* Slack: ``{"text": <fallback>, "blocks": [header, section with fields, …]}``
  (an incoming webhook's message);
* Teams: ``{"type": "message", "attachments": [{"contentType":
  "application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard 1.4>}]}``.

Everything an event carries (versions, notes, actors, comments, gate details) is
untrusted text. For Slack, ``&``, ``<`` and ``>`` become ``&amp;``, ``&lt;`` and ``&gt;``
(Slack's own control characters), so no value can mention ``<!channel>`` or a user, or
make a link. For Teams, the Markdown that a TextBlock or fact renders (``[link](url)``,
emphasis, lists, headings) is escaped with backslashes, and no mention entity is ever
declared, so ``<at>`` is inert. Long text is cut (:data:`MAX_TEXT`).
"""

from __future__ import annotations

import re
from typing import Any

MAX_TEXT = 1500
"""The longest value shown (a note, a log excerpt); Slack caps a section's text at 3000 characters."""

SLACK_FIELD_MAX = 2000
"""Slack's limit for a section field's text, counted on the escaped text that is sent."""

SLACK_SECTION_MAX = 3000
"""Slack's limit for a section's text (the title, between its two ``*``)."""

_TEAMS_MARKDOWN = re.compile(r"([\\`*_\[\]<>~])")
_TEAMS_LINE_START = re.compile(r"^(\s*)([#+\-]|\d+\.)", re.MULTILINE)


def slack_escape(text: str) -> str:
    """``text`` inert in Slack mrkdwn: only ``&``, ``<`` and ``>`` are control characters there."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_fit(text: str, limit: int = SLACK_FIELD_MAX) -> str:
    """Escaped ``text`` cut to ``limit`` characters (``…`` included), never inside an ``&…;`` entity."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    amp = cut.rfind("&", len(cut) - 4)
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def teams_escape(text: str) -> str:
    """``text`` inert in an Adaptive Card TextBlock's Markdown: its Markdown characters backslash-escaped."""
    escaped = _TEAMS_MARKDOWN.sub(r"\\\1", text)
    return _TEAMS_LINE_START.sub(lambda m: m.group(1) + (m.group(2)[:-1] + "\\." if m.group(2).endswith(".")
                                                          else "\\" + m.group(2)), escaped)


def _cut(value: Any) -> str:
    text = str(value).replace("\r", "")
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def describe(event: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    """The event's title and facts (label, value), all plain text (not yet escaped)."""
    kind = str(event.get("event", ""))
    release = event.get("release") or {}
    env = event.get("environment") or ""
    where = f" in {env}" if env else ""
    version = f"{event.get('project', '')} {release.get('version', '')}".strip()
    facts: list[tuple[str, str]] = []
    if kind == "release_created":
        title = f"Release {version} created"
        facts = [("By", release.get("created_by") or "")]
        if release.get("notes"):
            facts.append(("Notes", release["notes"]))
    elif kind in ("deployment_started", "deployment_finished"):
        dep = event.get("deployment") or {}
        verb = "started" if kind == "deployment_started" else str(dep.get("status", ""))
        title = f"{str(dep.get('kind', 'deploy')).capitalize()} of {version} to {env}: {verb}"
        facts = [("Deployment", f"#{dep.get('id', '')}"), ("By", dep.get("actor") or "")]
        if dep.get("excerpt") and verb != "succeeded" and kind == "deployment_finished":
            facts.append(("Log", dep["excerpt"]))
    elif kind == "approval_recorded":
        approval = event.get("approval") or {}
        counts = "" if approval.get("counts") else " (does not count)"
        title = f"{approval.get('actor', '')} approved {version} for {env}{counts}"
        facts = [("Comment", approval.get("comment") or "")]
    elif kind == "rollout_step_finished":
        step = event.get("step") or {}
        what = step.get("instance") or step.get("slot") or (f"{step.get('weight')}%" if step.get("weight") is not None
                                                            else "")
        title = f"{step.get('strategy', '')} {step.get('action', '')} {what} of {version}{where}: {step.get('status')}"
        facts = [("Deployment", f"#{step.get('deployment', '')}")]
    elif kind == "runbook_run_finished":
        run = event.get("run") or {}
        title = f"Runbook {run.get('runbook', '')} against {version}{where}: {run.get('status', '')}"
        facts = [("Run", f"#{run.get('id', '')}"), ("By", run.get("actor") or "")]
    elif kind == "gate_sampled":
        sample = event.get("sample") or {}
        title = f"Gates of {env} for {version}: sample {'passed' if sample.get('passed') else 'not met'}"
        facts = [(str(r.get("gate", "")), f"{'ok' if r.get('ok') else 'failed'} {r.get('detail', '')}".strip())
                 for r in sample.get("results", ())]
    elif kind == "gates_finished":
        gates = event.get("gates") or {}
        title = f"Gates of {env} for {version}: {'passed' if gates.get('passed') else 'not met'}"
        facts = [("Samples", str(gates.get("samples", "")))]
        facts += [(str(r.get("gate", "")), str(r.get("detail", ""))) for r in gates.get("failed", ())]
    elif kind == "signoff_recorded":
        signoff = event.get("signoff") or {}
        verb = "revoked the sign-off of" if signoff.get("revoked_at") else "signed off"
        counts = "" if signoff.get("counts") or signoff.get("revoked_at") else " (does not count)"
        title = f"{signoff.get('actor', '')} {verb} {version}{where}{counts}"
        facts = [("Comment", signoff.get("comment") or "")]
    elif kind == "verification_finished":
        found = event.get("verification") or {}
        title = f"Performance verification of {version}{where}: {'passed' if found.get('passed') else 'failed'}"
        facts = [(str(r.get("metric") or "verify"), _metric(r)) for r in found.get("results", ())]
    else:
        title = f"{kind} {version}{where}"
    return title, [(label, _cut(value)) for label, value in facts if value]


def _metric(result: dict[str, Any]) -> str:
    shown = "ok" if result.get("ok") else "FAILED"
    if result.get("value") is not None:
        shown += f" {result['value']:g}"
    if result.get("baseline") is not None:
        shown += f" (baseline {result['baseline']:g})"
    return shown + (f": {result['reason']}" if result.get("reason") else "")


def slack(event: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message for ``event``: fallback ``text`` and Block Kit ``blocks``."""
    title, facts = describe(event)
    text = _slack_fit(slack_escape(title), SLACK_SECTION_MAX - 2)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}}]
    if facts:
        fields = [{"type": "mrkdwn", "text": _slack_fit(f"*{slack_escape(label)}*\n{slack_escape(value)}")}
                  for label, value in facts[:10]]  # Slack takes at most 10 fields in a section
        blocks.append({"type": "section", "fields": fields})
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": slack_escape(f"trainmaster · {event.get('event', '')} · {event.get('time', '')}")}]})
    return {"text": text, "blocks": blocks}


def teams(event: dict[str, Any]) -> dict[str, Any]:
    """A Teams incoming-webhook message for ``event``: one Adaptive Card (version 1.4)."""
    title, facts = describe(event)
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": teams_escape(title), "weight": "Bolder", "size": "Medium", "wrap": True}]
    if facts:
        body.append({"type": "FactSet", "facts": [{"title": teams_escape(label), "value": teams_escape(value)}
                                                  for label, value in facts]})
    body.append({"type": "TextBlock", "isSubtle": True, "size": "Small", "wrap": True,
                 "text": teams_escape(f"trainmaster · {event.get('event', '')} · {event.get('time', '')}")})
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "body": body}
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


def shape(event: dict[str, Any], fmt: str) -> dict[str, Any]:
    """``event`` in the notifier's ``format`` (``json``: unchanged)."""
    if fmt == "slack":
        return slack(event)
    if fmt == "teams":
        return teams(event)
    return event
