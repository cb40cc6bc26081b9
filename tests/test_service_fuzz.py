"""Schemathesis against the served OpenAPI spec of a real server: no input it can generate gets a 5xx.

Every operation of /openapi.json is exercised with generated bodies, parameters and paths
(with the API token, so that write endpoints are reached, not refused at the door). The
operations are driven through schemathesis' Python API and hypothesis directly, one
subtest per operation, so the test does not depend on pytest internals.
"""
from __future__ import annotations

from typing import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from service_server import TOKEN, Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("fuzz"), "--max-batch", "20", "--request-timeout", "20")
    yield s
    s.stop()


def test_no_server_errors(server: Server, subtests: pytest.Subtests) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        with subtests.test(operation=operation.label):
            @given(case=operation.as_strategy())
            @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(base_url=server.url, headers={"authorization": f"Bearer {TOKEN}"},
                                       checks=[not_a_server_error])
            check()
