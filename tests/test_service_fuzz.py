"""Schemathesis against the served OpenAPI spec of a real server: no input it can generate gets a 5xx.

Every operation of /openapi.json is exercised with generated bodies, parameters and paths
(with the API token, so that write endpoints are reached, not refused at the door).
"""
from __future__ import annotations

from typing import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from service_server import TOKEN, Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("fuzz"), "--max-batch", "20", "--request-timeout", "20")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def api_schema(server: Server) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(server.url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case, server: Server) -> None:
    case.call_and_validate(base_url=server.url, headers={"authorization": f"Bearer {TOKEN}"}, checks=[not_a_server_error])
