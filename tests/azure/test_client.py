"""The Azure DevOps HTTP choke point (plugins/trainmaster_azure/client.py), one call at a time.

Requests are mocked with ``responses`` and every one that is not a discovery call is checked
against tests/contracts/azure-devops-release.swagger.json. API reference:
https://learn.microsoft.com/rest/api/azure/devops/release/ and, for throttling,
https://learn.microsoft.com/azure/devops/integrate/concepts/rate-limits.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import parse_qsl, urlparse

import pytest
import responses

from tests.fakes.azure import RELEASE_AREA, RELEASE_LOCATIONS, RESOURCE_AREAS_LOCATION
from tests.fakes.contract import load
from trainmaster.errors import InvalidInput, OutcomeUnknown, PluginError, Unavailable
from trainmaster.http import RetryPolicy
from trainmaster_azure.client import AzureDevOps, NotFound, import_sdk, token_source

ORG = "https://dev.azure.com/acme"
VSRM = "https://vsrm.dev.azure.com/acme"
TOKEN = "pat-that-must-never-show-9c1d"
DEFINITION = {"id": 1, "name": "app-release", "revision": 1, "environments": [], "artifacts": []}


def discovery(rsps: responses.RequestsMock) -> None:
    loc = {"id": RESOURCE_AREAS_LOCATION, "area": "Location", "resourceName": "ResourceAreas",
           "routeTemplate": "_apis/{resource}/{areaId}", "resourceVersion": 1, "minVersion": "3.2",
           "maxVersion": "7.2", "releasedVersion": "0.0"}
    rm = [{"id": i, "area": "Release", "resourceName": r, "routeTemplate": t, "resourceVersion": v,
           "minVersion": "3.0", "maxVersion": "7.2", "releasedVersion": "7.1"} for i, r, t, v in RELEASE_LOCATIONS]
    rsps.add("OPTIONS", f"{ORG}/_apis", json={"count": 1, "value": [loc]})
    rsps.add("GET", re.compile(re.escape(f"{ORG}/_apis/ResourceAreas") + ".*"),
             json={"count": 1, "value": [{"id": RELEASE_AREA, "name": "Release", "locationUrl": VSRM + "/"}]})
    rsps.add("OPTIONS", f"{VSRM}/_apis", json={"count": len(rm), "value": [loc, *rm]})


def check_contract(rsps: responses.RequestsMock) -> int:
    """Every non-discovery request must be an operation of the official description; returns how many."""
    contract = load("azure-devops-release.swagger.json", True)
    checked = 0
    for call in rsps.calls:
        url = urlparse(call.request.url)
        if call.request.method == "OPTIONS" or "/ResourceAreas" in url.path:
            continue
        query = dict(parse_qsl(url.query))
        match = contract.match_path(call.request.method, url.path.replace("/acme", "/acme", 1), query)
        accept = call.request.headers.get("Accept", "")
        assert re.search(r"api-version=7\.\d", accept), accept
        contract.check_params(match, query, implicit=frozenset({"api-version"}))
        body = call.request.body
        contract.check_body(match, json.loads(body) if body else None, present=bool(body))
        checked += 1
    return checked


def client(sleeps: list[float], **policy: Any) -> AzureDevOps:
    return AzureDevOps(ORG, "Shop", TOKEN, policy=RetryPolicy(sleep=sleeps.append, rand=lambda: 0.5, **policy))


@pytest.fixture(autouse=True)
def fresh_locations(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """The SDK caches resource locations per URL in class state and on disk; start each test clean."""
    from azure.devops import _file_cache
    from azure.devops.client import Client

    monkeypatch.setattr(Client, "_locations_cache", {})
    for cache in (_file_cache.OPTIONS_CACHE, _file_cache.RESOURCE_CACHE):
        monkeypatch.setattr(cache, "file_name", str(tmp_path / "cache.json"))
        cache.clear()


DEF_URL = f"{VSRM}/Shop/_apis/Release/definitions/1"


@responses.activate
def test_retry_after_is_honoured_and_sleeps_are_observable() -> None:
    discovery(responses.mock)
    responses.add("GET", DEF_URL, status=429, headers={"Retry-After": "12"})
    responses.add("GET", DEF_URL, json=DEFINITION)
    sleeps: list[float] = []
    assert client(sleeps).release.get_release_definition("Shop", 1).name == "app-release"
    assert sleeps == [12.0]
    assert check_contract(responses.mock) == 2


@responses.activate
def test_it_slows_down_before_a_429_when_the_remaining_budget_runs_low() -> None:
    discovery(responses.mock)
    reset = str(int(time.time()) + 40)
    responses.add("GET", DEF_URL, json=DEFINITION,
                  headers={"X-RateLimit-Remaining": "4", "X-RateLimit-Limit": "200", "X-RateLimit-Reset": reset,
                           "X-RateLimit-Resource": "ReleaseManagement"})
    responses.add("GET", DEF_URL, json=DEFINITION, headers={"X-RateLimit-Remaining": "150"})
    responses.add("GET", DEF_URL, json=DEFINITION)
    sleeps: list[float] = []
    rm = client(sleeps).release
    rm.get_release_definition("Shop", 1)
    assert sleeps == []
    rm.get_release_definition("Shop", 1)
    assert len(sleeps) == 1 and 8.0 <= sleeps[0] <= 10.0  # ~40 s left / 4 units left
    rm.get_release_definition("Shop", 1)
    assert len(sleeps) == 1  # the budget recovered: no more pacing


@responses.activate
def test_5xx_on_get_backs_off_and_msrest_does_not_retry_on_its_own() -> None:
    discovery(responses.mock)
    responses.add("GET", DEF_URL, status=503)
    responses.add("GET", DEF_URL, status=500)
    responses.add("GET", DEF_URL, json=DEFINITION)
    sleeps: list[float] = []
    client(sleeps, base=2.0).release.get_release_definition("Shop", 1)
    assert sleeps == [1.0, 2.0]  # 2 s then 4 s, with full jitter at 0.5
    assert len([c for c in responses.calls if c.request.url == DEF_URL]) == 3


@responses.activate
def test_a_failed_post_without_a_lookup_is_never_resent() -> None:
    from azure.devops.v7_1.release.models import ReleaseStartMetadata

    discovery(responses.mock)
    url = f"{VSRM}/Shop/_apis/Release/releases"
    responses.add("POST", url, status=503)
    sleeps: list[float] = []
    with pytest.raises(OutcomeUnknown) as err:
        client(sleeps).release.create_release(ReleaseStartMetadata(definition_id=1, description="x"), "Shop")
    assert err.value.exit_code == 5
    assert len([c for c in responses.calls if c.request.method == "POST"]) == 1 and sleeps == []
    check_contract(responses.mock)


@responses.activate
def test_errors_are_typed_with_status_activity_id_and_message_never_the_token() -> None:
    discovery(responses.mock)
    body = {"$id": "1", "message": "VS402855: Release definition with id 1 does not exist.",
            "typeKey": "ReleaseDefinitionNotFoundException"}
    responses.add("GET", DEF_URL, status=404, json=body, headers={"ActivityId": "7d2b-act"})
    with pytest.raises(NotFound) as err:
        client([]).release.get_release_definition("Shop", 1)
    e = err.value
    assert e.status_code == 404 and e.request_id == "7d2b-act" and e.exit_code == 2
    assert "VS402855" in str(e) and "7d2b-act" in str(e)
    responses.replace("GET", DEF_URL, status=401, body="", headers={"X-VSS-E2EID": "e2e-1"})
    with pytest.raises(Exception) as auth:
        client([]).release.get_release_definition("Shop", 1)
    assert getattr(auth.value, "exit_code", None) == 2 and "token" in str(auth.value)
    for text in (str(e), repr(e), str(auth.value), repr(client([]))):
        assert TOKEN not in text


@responses.activate
def test_the_retry_budget_bounds_the_total_wait() -> None:
    discovery(responses.mock)
    responses.add("GET", DEF_URL, status=429, headers={"Retry-After": "600"})
    sleeps: list[float] = []
    with pytest.raises(Unavailable) as err:
        client(sleeps, budget=120).release.get_release_definition("Shop", 1)
    assert sleeps == [] and "budget" in str(err.value) and err.value.exit_code == 5
    responses.replace("GET", DEF_URL, status=503)
    with pytest.raises(Unavailable) as err2:
        client(sleeps, attempts=3).release.get_release_definition("Shop", 1)
    assert len(sleeps) == 2 and "3 attempt" in str(err2.value)


def test_the_token_comes_from_the_named_variable_then_the_job_token_then_the_pat() -> None:
    env = {"SYSTEM_ACCESSTOKEN": "job", "AZURE_DEVOPS_EXT_PAT": "pat", "MY_PAT": "mine"}
    assert token_source(env, "MY_PAT") == ("MY_PAT", "mine")
    assert token_source(env) == ("SYSTEM_ACCESSTOKEN", "job")
    assert token_source({"AZURE_DEVOPS_EXT_PAT": "pat"}) == ("AZURE_DEVOPS_EXT_PAT", "pat")
    with pytest.raises(InvalidInput) as err:
        token_source({}, "MY_PAT")
    assert err.value.exit_code == 2 and "MY_PAT" in str(err.value) and "SYSTEM_ACCESSTOKEN" in str(err.value)


def test_a_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "azure.devops.connection", None)
    with pytest.raises(PluginError) as err:
        import_sdk()
    assert err.value.exit_code == 2 and "install trainmaster[azure]" in str(err.value)
