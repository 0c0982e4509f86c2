"""``instances`` and ``strategy`` of an environment: what the schema cannot check.

Unique instance names, plain instance variables (reserved names and secret-looking
literals refused as for any variable), canary steps that increase and end at 100,
and durations, each error at its file:line:col.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trainmaster.config._where import where
from trainmaster.config.model import Instance, Strategy

if TYPE_CHECKING:
    from trainmaster.config._convert import Converter
    from trainmaster.config._yaml import PathKey


def convert(conv: Converter, block: dict[str, Any], path: PathKey) -> dict[str, Any]:
    """The ``instances`` and ``strategy`` fields of :class:`Environment` given in ``block``."""
    out: dict[str, Any] = {}
    if "instances" in block:
        out["instances"] = _instances(conv, block["instances"], (*path, "instances"))
    if "strategy" in block:
        out["strategy"] = _strategy(conv, block["strategy"], (*path, "strategy"))
    return out


def _instances(conv: Converter, items: list[Any], path: PathKey) -> tuple[Instance, ...]:
    seen: dict[str, int] = {}
    result = []
    for index, item in enumerate(items):
        name = item if isinstance(item, str) else item["name"]
        at: PathKey = (*path, index) if isinstance(item, str) else (*path, index, "name")
        if name in seen:
            raise conv.error(f"instance name '{name}' is used twice (first as item {seen[name] + 1}); "
                             "instance names must be unique in an environment", at)
        seen[name] = index
        variables = {} if isinstance(item, str) else conv.variables(item.get("variables", {}),
                                                                   (*path, index, "variables"))
        result.append(Instance(name=name, variables={k: str(v) for k, v in variables.items()}))
    return tuple(result)


def _strategy(conv: Converter, block: dict[str, Any], path: PathKey) -> Strategy:
    kind, spec = next(iter(block.items()))
    at: PathKey = (*path, kind)
    pause = conv.duration(spec["pause"], (*at, "pause")) if "pause" in spec else 0.0
    if kind == "rolling":
        batch = spec.get("batch", 1)
        percent = float(batch.rstrip("%")) if isinstance(batch, str) else None
        return Strategy(kind="rolling", batch=0 if percent is not None else int(batch), batch_percent=percent,
                        max_failed=int(spec.get("max_failed", 0)), pause=pause)
    if kind == "blue_green":
        return Strategy(kind="blue_green", slots=tuple(spec.get("slots", ("blue", "green"))), switch=spec["switch"])
    steps = tuple(int(s) for s in spec["steps"])
    for i in range(1, len(steps)):
        if steps[i] <= steps[i - 1]:
            raise conv.error(f"invalid {where(conv.data, (*at, 'steps'))}: the steps must increase "
                             f"({steps[i - 1]} is followed by {steps[i]})", (*at, "steps", i))
    if steps[-1] != 100:
        raise conv.error(f"invalid {where(conv.data, (*at, 'steps'))}: the last step must be 100 "
                         "(all traffic on the new release)", (*at, "steps", len(steps) - 1))
    return Strategy(kind="canary", steps=steps, route=spec["route"], pause=pause)
