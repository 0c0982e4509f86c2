"""Turn validated plain data into the dataclasses of :mod:`trainmaster.config.model`.

The schema has already checked the shape; this module checks what a schema cannot
(time zones, hours order, freeze order, unique names, secret-looking literals,
known secret schemes, package variable collisions, targets a plugin provides) and
merges ``defaults``. A problem does not stop the conversion: each package, variable,
setting and environment is checked on its own, and :meth:`Converter.config` raises
them all at once (:func:`trainmaster.errors.config_errors`).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from trainmaster.config._passenv import check_pass_env, refused_names
from trainmaster.config._schema import plugin_def
from trainmaster.config._validate import Validator
from trainmaster.config._values import (
    looks_like_secret,
    package_env_name,
    parse_days,
    parse_duration,
    parse_hours,
)
from trainmaster.config._where import inside, where
from trainmaster.config._yaml import Document, PathKey
from trainmaster.config.model import (
    Approvals,
    Config,
    Environment,
    Freeze,
    Location,
    Monitor,
    Notifier,
    PackageSpec,
    SecretRef,
    Stage,
    VariableValue,
    Window,
)
from trainmaster.errors import ConfigError, config_errors

T = TypeVar("T")
_PLAIN_FIELDS = ("target", "deploy", "smoke", "on_failure", "allow_self_approval", "concurrency")
_ALL_DAYS = tuple(range(7))


class Converter:
    """Builds a :class:`Config` from a validated :class:`Document`."""

    def __init__(
        self,
        doc: Document,
        schema: dict[str, Any],
        *,
        path: Path,
        plugin_names: tuple[str, ...],
        secret_schemes: Iterable[str],
        targets: Iterable[str] | None = None,
    ) -> None:
        self.doc = doc
        self.data: dict[str, Any] = doc.data
        self.schema = schema
        self.path = path
        self.plugin_names = plugin_names
        self.secret_schemes = tuple(secret_schemes)
        self._refused: dict[str, str] | None = None
        self.targets = None if targets is None else tuple(sorted(targets))
        self.errors: list[ConfigError] = []

    def attempt(self, convert: Callable[..., T], *args: Any, default: Any = None, **kwargs: Any) -> T:
        """``convert(*args, **kwargs)``; on a :class:`ConfigError`, note it and return ``default``."""
        try:
            return convert(*args, **kwargs)
        except ConfigError as exc:
            self.errors.append(exc)
            return default  # type: ignore[no-any-return]

    def error(self, message: str, path: PathKey, *, at_key: bool = False) -> ConfigError:
        return self.doc.error(message, path, at_key=at_key)

    def location(self, path: PathKey, *, at_key: bool = False) -> Location:
        line, column = self.doc.mark(path, at_key=at_key)
        return Location(self.doc.file, line or 1, column or 1)

    def block_locations(self, block: dict[str, Any] | None, path: PathKey) -> dict[str, Location]:
        """Where a plugin settings block at ``path`` and each of its keys were written ("" = the block)."""
        if block is None:
            return {}
        found = {"": self.location(path, at_key=True)}
        found.update({key: self.location((*path, key), at_key=True) for key in block})
        return found

    # -- top level -----------------------------------------------------------------------

    def config(self) -> Config:
        """The :class:`Config`; raises every problem found (up to 20) at once."""
        data = self.data
        top_vars = self.variables(data.get("variables", {}), ("variables",))
        defaults = self.settings(data.get("defaults", {}), ("defaults",))
        top_plugins = {name: dict(data[name]) for name in self.plugin_names if name in data}
        base = Path(os.path.abspath(self.path))
        stages = self.stages(defaults, top_vars, top_plugins)
        packages = self.packages()
        notify = self.notifiers()
        audit_key = None
        if "key" in data.get("audit", {}):
            audit_key = self.attempt(self.secret, data["audit"]["key"], ("audit", "key"))
        from trainmaster.config._duties import runbooks

        found = self.attempt(runbooks, self, tuple(env for stage in stages for env in stage.environments),
                             default=())
        if self.errors:
            raise config_errors(self.errors)
        return Config(
            path=base,
            project=data["project"],
            packages=packages,
            stages=stages,
            variables=top_vars,
            ledger=data.get("ledger", "sqlite"),
            publish=tuple(data.get("publish", ())),
            notify=notify,
            plugin_settings=top_plugins,
            plugin_locations={name: self.block_locations(block, (name,)) for name, block in top_plugins.items()},
            state_dir=Path(os.path.abspath(base.parent / data.get("state_dir", ".trainmaster"))),
            audit_key=audit_key,
            retention_keep=int((data.get("retention") or {}).get("keep", 20)),
            runbooks=found,
        )

    def packages(self) -> tuple[PackageSpec, ...]:
        specs: list[PackageSpec] = []
        env_names: dict[str, str] = {}
        for name, value in self.data.get("packages", {}).items():
            path: PathKey = ("packages", name)
            variable = package_env_name(name)
            if variable in env_names:
                self.errors.append(self.error(
                    f"packages '{env_names[variable]}' and '{name}' both map to {variable}; "
                    "rename one of them",
                    path,
                    at_key=True,
                ))
                continue
            env_names[variable] = name
            line, column = self.doc.mark(path, at_key=True)
            location = Location(self.doc.file, line or 1, column or 1)
            if isinstance(value, str):
                specs.append(PackageSpec(name=name, path=value, location=location))
            else:
                specs.append(
                    PackageSpec(
                        name=name,
                        path=value["path"],
                        deploy=value.get("deploy"),
                        smoke=value.get("smoke"),
                        media_type=value.get("media_type"),
                        location=location,
                    )
                )
        return tuple(specs)

    def notifiers(self) -> tuple[Notifier, ...]:
        result = []
        for index, entry in enumerate(self.data.get("notify", ())):
            path: PathKey = ("notify", index, "webhook")
            webhook = entry["webhook"]
            target: VariableValue = self.attempt(self.secret, webhook, path) if isinstance(webhook, dict) else webhook
            signing = None
            if "secret" in entry:
                signing = self.attempt(self.secret, entry["secret"], ("notify", index, "secret"))
            result.append(Notifier(webhook=target, events=tuple(entry.get("events", ())),
                                   format=entry.get("format", "json"), secret=signing))
        return tuple(result)

    # -- variables and secrets -------------------------------------------------------------

    def secret(self, value: dict[str, Any], path: PathKey) -> SecretRef:
        ref = SecretRef(value["secret"])
        if ref.scheme not in self.secret_schemes:
            known = ", ".join(self.secret_schemes) or "none"
            raise self.error(
                f"unknown secret scheme '{ref.scheme}' {inside(self.data, path)}: expected one of {known}",
                (*path, "secret"),
            )
        return ref

    def variables(self, block: dict[str, Any], path: PathKey) -> dict[str, VariableValue]:
        result: dict[str, VariableValue] = {}
        for name, value in block.items():
            converted = self.attempt(self.variable, name, value, (*path, name))
            if converted is not None:
                result[name] = converted
        return result

    def variable(self, name: str, value: Any, child: PathKey) -> VariableValue:
        if name.upper().startswith("TRAINMASTER_"):
            raise self.error(
                f"invalid key '{name}' {inside(self.data, child[:-1])}: "
                "names starting with TRAINMASTER_ are reserved",
                child,
                at_key=True,
            )
        if isinstance(value, dict):
            return self.secret(value, child)
        text = value if isinstance(value, str) else self.doc.raw.get(child, str(value))
        if text and looks_like_secret(name):
            raise self.error(
                f"'{name}' looks like a secret but has a literal value; use {{secret: env:NAME}}", child
            )
        return text

    # -- environments ----------------------------------------------------------------------

    def settings(self, block: dict[str, Any], path: PathKey) -> dict[str, Any]:
        """Converted environment settings present in ``block`` (an environment or defaults)."""
        out: dict[str, Any] = {key: block[key] for key in _PLAIN_FIELDS if key in block}
        out["variables"] = self.variables(block.get("variables", {}), (*path, "variables"))
        out["settings"] = {name: dict(block[name]) for name in self.plugin_names if name in block}
        if "pass_env" in block:
            out["pass_env"] = tuple(block["pass_env"])
        for key in ("timeout", "soak"):
            if key in block:
                out[key] = self.attempt(self.duration, block[key], (*path, key), positive=key == "timeout")
        if "monitor" in block:
            m = block["monitor"]
            out["monitor"] = Monitor(
                command=m["command"],
                every=self.attempt(self.duration, m["every"], (*path, "monitor", "every"), positive=True),
                for_=self.attempt(self.duration, m["for"], (*path, "monitor", "for")),
            )
        if "approvals" in block:
            out["approvals"] = self.attempt(self.approvals, block["approvals"], (*path, "approvals"))
        if "windows" in block:
            out["windows"] = tuple(
                self.attempt(self.window, w, (*path, "windows", i)) for i, w in enumerate(block["windows"])
            )
        if "instances" in block or "strategy" in block:
            from trainmaster.config._strategy import convert

            out.update(self.attempt(convert, self, block, path, default={}))
        if "freeze" in block:
            out["freeze"] = tuple(self.attempt(self.freeze, f, (*path, "freeze", i))
                                  for i, f in enumerate(block["freeze"]))
        from trainmaster.config._duties import duty_settings

        out.update(self.attempt(duty_settings, self, block, path, default={}))
        return out

    def approvals(self, raw: Any, path: PathKey) -> Approvals | None:
        count = raw if isinstance(raw, int) else raw["count"]
        names = () if isinstance(raw, int) else tuple(raw.get("from", ()))
        if names and int(count) > len(set(names)):
            raise self.error(f"approvals needs {count} approvals from only {len(set(names))} approver(s): "
                             "it could never be met", path)
        return Approvals(count=int(count), from_=names) if count else None

    def duration(self, value: Any, path: PathKey, *, positive: bool = False) -> float:
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise self.error(f"invalid {where(self.data, path)}: {exc}", path) from None
        if positive and seconds <= 0:
            raise self.error(f"invalid {where(self.data, path)}: expected a duration greater than zero", path)
        return seconds

    def window(self, value: dict[str, Any], path: PathKey) -> Window:
        days = parse_days(value["days"]) if "days" in value else _ALL_DAYS
        start, end = 0, 24 * 60
        if "hours" in value:
            try:
                start, end = parse_hours(value["hours"])
            except ValueError as exc:
                raise self.error(
                    f"invalid {where(self.data, (*path, 'hours'))}: {exc}", (*path, "hours")
                ) from None
        timezone = value.get("timezone", "UTC")
        if timezone != "UTC":
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                raise self.error(
                    f"unknown time zone '{timezone}' {inside(self.data, path)}: "
                    "expected an IANA name such as Europe/Paris or UTC",
                    (*path, "timezone"),
                ) from None
        return Window(days=days, start_minute=start, end_minute=end, timezone=timezone)

    def freeze(self, value: dict[str, Any], path: PathKey) -> Freeze:
        start = self.timestamp(value["from"], (*path, "from"))
        end = self.timestamp(value["to"], (*path, "to"))
        if end <= start:
            raise self.error(f"invalid {where(self.data, path)}: 'to' must be after 'from'", (*path, "to"))
        return Freeze(start=start, end=end)

    def timestamp(self, text: str, path: PathKey) -> dt.datetime:
        try:
            moment = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise self.error(
                f"invalid {where(self.data, path)}: "
                "expected an ISO 8601 date-time such as 2024-12-20T18:00:00Z",
                path,
            ) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

    def stages(
        self,
        defaults: dict[str, Any],
        top_vars: dict[str, VariableValue],
        top_plugins: dict[str, dict[str, Any]],
    ) -> tuple[Stage, ...]:
        stage_paths: dict[str, PathKey] = {}
        env_paths: dict[str, PathKey] = {}
        reported: set[PathKey] = set()  # names already reported as used twice
        result: list[Stage] = []
        for i, item in enumerate(self.data["train"]):
            if "stage" in item:
                name, name_path = item["stage"], ("train", i, "stage")
                members: list[tuple[dict[str, Any], PathKey]] = [
                    (env, ("train", i, "environments", j)) for j, env in enumerate(item["environments"])
                ]
                require = item.get("require", "all")
            else:
                name, name_path = item["name"], ("train", i, "name")
                members, require = [(item, ("train", i))], "all"
            for env, env_path in members:
                if env["name"] in env_paths:
                    self.errors.append(self.error(
                        self._twice("environment", env["name"], env_paths[env["name"]]), (*env_path, "name")
                    ))
                    reported.add((*env_path, "name"))
                env_paths.setdefault(env["name"], (*env_path, "name"))
            if name in stage_paths and ("stage" in item or name_path not in reported):
                self.errors.append(self.error(self._twice("stage", name, stage_paths[name]), name_path))
            stage_paths.setdefault(name, name_path)
            envs = [
                self.environment(env, env_path, name, len(result), defaults, top_vars, top_plugins)
                for env, env_path in members
            ]
            result.append(Stage(name=name, index=len(result), environments=tuple(envs), require=require))
        return tuple(result)

    def _twice(self, what: str, name: str, first: PathKey) -> str:
        line, _ = self.doc.mark(first)
        return f"{what} name '{name}' is used twice (first at line {line}); {what} names must be unique"

    def environment(
        self,
        block: dict[str, Any],
        path: PathKey,
        stage: str,
        stage_index: int,
        defaults: dict[str, Any],
        top_vars: dict[str, VariableValue],
        top_plugins: dict[str, dict[str, Any]],
    ) -> Environment:
        own = self.settings(block, path)
        fields = {**defaults, **own}
        fields["variables"] = {**top_vars, **defaults["variables"], **own["variables"]}
        merged: dict[str, dict[str, Any]] = {}
        locations: dict[str, dict[str, Location]] = {}
        for name in self.plugin_names:
            layers = [top_plugins.get(name), defaults["settings"].get(name), own["settings"].get(name)]
            if all(layer is None for layer in layers):
                continue
            merged[name] = {k: v for layer in layers if layer for k, v in layer.items()}
            locations[name] = {}
            for layer, at_path in zip(layers, [(name,), ("defaults", name), (*path, name)], strict=True):
                locations[name].update(self.block_locations(layer, at_path))
            if layers[1] is not None or layers[2] is not None:
                at = (*path, name) if layers[2] is not None else ("defaults", name)
                pointer = "#/$defs/" + plugin_def(name).replace("~", "~0").replace("/", "~1")
                self.attempt(Validator(self.schema, self.doc).check, merged[name], {"$ref": pointer}, at)
        fields["settings"] = merged
        fields["settings_locations"] = locations
        if fields.get("pass_env"):
            if self._refused is None:
                self._refused = refused_names(self.data, self.schema, self.plugin_names)
            self.attempt(check_pass_env, self.doc, self._refused, block, path, fields["pass_env"],
                         fields["variables"])
        env = Environment(
            name=block["name"], stage=stage, stage_index=stage_index, location=self.location(path),
            key_locations={key: self.location((*path, key), at_key=True) for key in block}, **fields
        )
        if self.targets is not None and env.target not in self.targets:
            line, column = self.doc.mark(path)
            self.errors.append(ConfigError(
                f"environment {env.name!r} uses target {env.target!r}, which no installed plugin provides "
                f"(installed: {', '.join(self.targets)}); see `trainmaster plugins`",
                file=self.doc.file, line=line, column=column, key="target"))
        return env
