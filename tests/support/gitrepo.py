"""A real git repository in a test project, and the environment of a GitHub Actions job that built a commit."""

from __future__ import annotations

import subprocess

from tests.support.project import Project


def git(p: Project, *args: str) -> str:
    """Run ``git ARGS`` in the project's folder with a fixed identity; its stripped stdout."""
    env = dict(p.env, GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@x", GIT_COMMITTER_NAME="a", GIT_COMMITTER_EMAIL="a@x")
    done = subprocess.run(["git", *args], cwd=p.root, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def in_ci(sha: str) -> dict[str, str]:
    """The environment of a GitHub Actions run of commit ``sha`` (the release records it as ``source.commit``)."""
    return {"TRAINMASTER_LOAD_PLUGINS": "github", "GITHUB_ACTIONS": "true", "GITHUB_SHA": sha, "GITHUB_ACTOR": "ci",
            "GITHUB_REPOSITORY": "o/demo", "GITHUB_RUN_ID": "7"}
