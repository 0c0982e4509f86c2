"""Octopus: a config, a release and a deploy through the adapter, shared by the fake and Node tests."""

from __future__ import annotations

from pathlib import Path

from tests.support.octopus import make_config, make_job, make_release
from trainmaster_octopus._target import OctopusTarget

ENVS = [("dev", {"environment": "Development"}), ("test", {"environment": "Test"}),
        ("prod", {"environment": "Production"})]


def setup(tmp_path: Path, env, files=None, settings=None, envs=ENVS, **kw):
    config = make_config(tmp_path, {"poll_interval": 0.01, "timeout": 30, **(settings or {})}, envs)
    release, paths = make_release(tmp_path, files or {"app.bin": b"payload-1" * 100}, **kw)
    return config, release, paths


def deploy(config, release, paths, env, env_name, **kw):
    from trainmaster_octopus import _settings

    client = _settings.client_for(_settings.Settings.resolve(config), env)
    client.sleep = lambda s: None
    return OctopusTarget(config, config.environment(env_name), env).deploy(make_job(config, env_name, release,
                                                                                     paths, **kw))


