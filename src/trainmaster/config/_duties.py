"""Converting the release duties' config keys: ``gates``, ``signoff``, ``verify`` and ``runbooks``.

The schema has checked their shape; this checks what it cannot (a gate is a command
*or* a URL, runbook environments exist, approvals can be met) with file:line:col errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trainmaster.config._where import where
from trainmaster.config.model import Approvals, Gate, Gates, MetricBound, Runbook, Signoff, Verify

if TYPE_CHECKING:
    from trainmaster.config._convert import Converter
    from trainmaster.config._yaml import PathKey
    from trainmaster.config.model import Environment


def duty_settings(conv: Converter, block: dict[str, Any], path: PathKey) -> dict[str, Any]:
    """The converted ``gates``, ``signoff`` and ``verify`` present in an environment or ``defaults`` block."""
    out: dict[str, Any] = {}
    if "gates" in block:
        out["gates"] = gates(conv, block["gates"], (*path, "gates"))
    if "signoff" in block:
        raw = block["signoff"]
        names = tuple(raw.get("from", ()))
        if names and raw["count"] > len(set(names)):
            raise conv.error(f"signoff needs {raw['count']} sign-offs from only {len(set(names))} person(s): "
                             "it could never be met", (*path, "signoff", "count"))
        out["signoff"] = Signoff(count=raw["count"], from_=names, allow_self=bool(raw.get("allow_self", False)))
    if "verify" in block:
        raw = block["verify"]
        metrics = tuple((name, metric(conv, bound, (*path, "verify", "metrics", name)))
                        for name, bound in raw["metrics"].items())
        out["verify"] = Verify(command=raw["command"], metrics=metrics)
    return out


def gates(conv: Converter, raw: Any, path: PathKey) -> Gates:
    items, at = (raw, path) if isinstance(raw, list) else (raw["checks"], (*path, "checks"))
    checks = []
    for index, item in enumerate(items):
        here = (*at, index)
        if ("command" in item) == ("http" in item):
            raise conv.error(f"invalid {where(conv.data, here)}: a gate is either a `command` or an `http` URL",
                             here)
        if "command" in item and ("expect" in item or "json" in item):
            key = "expect" if "expect" in item else "json"
            raise conv.error(f"invalid {where(conv.data, (*here, key))}: `{key}` applies to an `http` gate only",
                             (*here, key), at_key=True)
        name = item.get("name") or item.get("command") or item["http"]
        checks.append(Gate(name=name, command=item.get("command"), http=item.get("http"),
                           expect=item.get("expect", 200), json=tuple(item.get("json", {}).items())))
    if isinstance(raw, list):
        return Gates(checks=tuple(checks))
    timing = {key: conv.duration(raw[key], (*path, key), positive=key != "delay")
              for key in ("delay", "every", "timeout") if key in raw}
    return Gates(checks=tuple(checks), **timing)


def metric(conv: Converter, raw: dict[str, Any], path: PathKey) -> MetricBound:
    if "max" in raw and "min" in raw and raw["min"] > raw["max"]:
        raise conv.error(f"invalid {where(conv.data, (*path, 'min'))}: `min` is above `max`", (*path, "min"))
    regress = raw.get("regress")
    relative = isinstance(regress, str)
    value = float(regress[:-1]) / 100 if isinstance(regress, str) else regress
    return MetricBound(max=raw.get("max"), min=raw.get("min"), regress=value, relative=relative)


def runbooks(conv: Converter, environments: tuple[Environment, ...]) -> tuple[Runbook, ...]:
    """Every runbook; each one's problem is noted (``conv.attempt``), so all of them are reported at once."""
    found = [conv.attempt(_runbook, conv, environments, name, raw)
             for name, raw in conv.data.get("runbooks", {}).items()]
    return tuple(book for book in found if book is not None)


def _runbook(conv: Converter, environments: tuple[Environment, ...], name: str, raw: dict[str, Any]) -> Runbook:
    known = [env.name for env in environments]
    path: PathKey = ("runbooks", name)
    if "command" in raw and "remote" in raw:
        raise conv.error(f"invalid {where(conv.data, (*path, 'remote'))}: runbook '{name}' has a `command` and "
                         "a `remote` runbook; give one of them", (*path, "remote"), at_key=True)
    if "command" not in raw and "remote" not in raw:
        raise conv.error(f"invalid {where(conv.data, path)}: runbook '{name}' needs a `command`, or a `remote` "
                         "runbook of its environments' target", path, at_key=True)
    for index, env in enumerate(raw["environments"]):
        if env not in known:
            raise conv.error(f"runbook '{name}' names environment '{env}', which the train does not have "
                             f"(environments: {', '.join(known)})", (*path, "environments", index))
        target = next(e.target for e in environments if e.name == env)
        if "remote" in raw and target == "local":
            raise conv.error(f"runbook '{name}' is a remote runbook, but environment '{env}' deploys with "
                             "target 'local', which has no remote runbooks: give the runbook a `command`",
                             (*path, "environments", index))
    approvals = None
    if "approvals" in raw:
        value = raw["approvals"]
        count = value if isinstance(value, int) else value["count"]
        names = () if isinstance(value, int) else tuple(value.get("from", ()))
        if names and count > len(set(names)):
            raise conv.error(f"approvals needs {count} approvals from only {len(set(names))} approver(s): "
                             "it could never be met", (*path, "approvals"))
        approvals = Approvals(count=count, from_=names) if count else None
    timeout = conv.duration(raw["timeout"], (*path, "timeout"), positive=True) if "timeout" in raw else None
    return Runbook(name=name, command=raw.get("command"), environments=tuple(raw["environments"]),
                   approvals=approvals, timeout=timeout, remote=raw.get("remote"))
