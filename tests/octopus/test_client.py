"""Unit tests of the Octopus HTTP choke point (one call each, mocked with ``responses``).

Every mocked request is checked against tests/contracts/octopus.swagger.json.
API reference: https://octopus.com/docs/octopus-rest-api
"""

from __future__ import annotations

import pytest
import responses

from tests.support.octopus import check_contract
from trainmaster.errors import InvalidInput, OutcomeUnknown, Unavailable
from trainmaster_octopus.client import OctopusApiError, OctopusAuthError, OctopusClient

URL = "https://octo.example"
KEY = "API-SECRETKEYVALUE1234567890"
SPACES = {"Items": [{"Id": "Spaces-1", "Name": "Default", "IsDefault": True},
                    {"Id": "Spaces-2", "Name": "Team A", "IsDefault": False}], "TotalResults": 2}


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        yield r


def client(**kw):
    sleeps: list[float] = []
    c = OctopusClient(URL, api_key=kw.pop("api_key", KEY), sleep=sleeps.append, **kw)
    return c, sleeps


def test_api_key_header_and_space_by_name(rsps):
    rsps.get(f"{URL}/api/spaces", json=SPACES)
    c, _ = client(space="Team A")
    assert c.space_id == "Spaces-2"
    assert c.space_id == "Spaces-2"  # resolved once
    assert len(rsps.calls) == 1
    req = rsps.calls[0].request
    assert req.headers["X-Octopus-ApiKey"] == KEY
    assert check_contract(req) == "getSpaces"


def test_bearer_token_and_space_by_id(rsps):
    rsps.get(f"{URL}/api/spaces/Spaces-2", json=SPACES["Items"][1])
    c = OctopusClient(URL + "/api/", access_token="tok-123", space="Spaces-2")
    assert c.space_id == "Spaces-2"
    req = rsps.calls[0].request
    assert req.headers["Authorization"] == "Bearer tok-123"
    assert "X-Octopus-ApiKey" not in req.headers
    assert check_contract(req) == "getSpaceById"


def test_unknown_space_names_the_fix(rsps):
    rsps.get(f"{URL}/api/spaces", json=SPACES)
    c, _ = client(space="Nope")
    with pytest.raises(InvalidInput, match="OCTOPUS_SPACE") as exc:
        _ = c.space_id
    assert exc.value.exit_code == 2


def test_wrong_key_is_exit_2_naming_the_variable_without_the_key(rsps):
    rsps.get(f"{URL}/api/spaces", status=401, json={"ErrorMessage": f"Invalid API key {KEY}", "Errors": []})
    c, _ = client(space="Default")
    with pytest.raises(OctopusAuthError) as exc:
        _ = c.space_id
    assert exc.value.exit_code == 2
    text = str(exc.value) + repr(exc.value) + (exc.value.body_excerpt or "") + repr(c)
    assert "OCTOPUS_API_KEY" in text
    assert KEY not in text


def test_typed_error_carries_error_message_and_errors(rsps):
    rsps.get(f"{URL}/api/Spaces-1/projects", status=400,
             json={"ErrorMessage": "There was a problem with your request.", "Errors": ["Name is bad", "Take <0"]})
    c, _ = client()
    c._space_id = "Spaces-1"
    with pytest.raises(OctopusApiError) as exc:
        c.get(c.space_path("projects"), {"name": "x"})
    assert exc.value.error_message == "There was a problem with your request."
    assert exc.value.errors == ["Name is bad", "Take <0"]
    assert "Name is bad" in str(exc.value) and exc.value.status_code == 400
    check_contract(rsps.calls[0].request)


def test_retry_after_is_honoured_on_429_then_503(rsps):
    rsps.get(f"{URL}/api/spaces", status=429, headers={"Retry-After": "7"})
    rsps.get(f"{URL}/api/spaces", status=503, headers={"Retry-After": "2"})
    rsps.get(f"{URL}/api/spaces", json=SPACES)
    c, sleeps = client(space="Default")
    assert c.space_id == "Spaces-1"
    assert sleeps == [7.0, 2.0]


def test_stays_unavailable_after_the_budget_exit_5(rsps):
    rsps.get(f"{URL}/api/spaces", status=503)
    c, sleeps = client(space="Default", max_attempts=4)
    with pytest.raises(Unavailable) as exc:
        _ = c.space_id
    assert exc.value.exit_code == 5
    assert len(rsps.calls) == 4 and len(sleeps) == 3
    for i, slept in enumerate(sleeps):  # exponential backoff with full jitter: [0, 0.5 * 2**i]
        assert 0 <= slept <= 0.5 * 2**i


def test_retry_budget_caps_total_sleep(rsps):
    rsps.get(f"{URL}/api/spaces", status=429, headers={"Retry-After": "100"})
    c, sleeps = client(space="Default", retry_budget=150)
    with pytest.raises(Unavailable):
        _ = c.space_id
    assert sleeps == [100.0]


def test_lost_post_response_is_recovered_by_lookup_not_resent(rsps):
    import requests

    rsps.post(f"{URL}/api/Spaces-1/releases/create/v1", body=requests.ConnectionError("reset by peer"))
    c, _ = client()
    c._space_id = "Spaces-1"
    found = {"Id": "Releases-1"}
    out = c.post(c.space_path("releases/create/v1"),
                 {"SpaceId": "Spaces-1", "SpaceIdOrName": "Spaces-1", "ProjectName": "p"}, recover=lambda: found)
    assert out is found
    assert len(rsps.calls) == 1
    check_contract(rsps.calls[0].request)


def test_lost_post_response_without_lookup_is_reported(rsps):
    import requests

    rsps.post(f"{URL}/api/Spaces-1/releases/create/v1", body=requests.ConnectionError("reset by peer"))
    c, _ = client()
    c._space_id = "Spaces-1"
    with pytest.raises(OutcomeUnknown) as exc:
        c.post(c.space_path("releases/create/v1"), {"SpaceId": "Spaces-1"})
    assert exc.value.exit_code == 5 and len(rsps.calls) == 1  # not sent again


def test_missing_credentials_name_both_variables():
    with pytest.raises(InvalidInput, match="OCTOPUS_API_KEY nor OCTOPUS_ACCESS_TOKEN"):
        OctopusClient.from_env({"OCTOPUS_URL": URL})
