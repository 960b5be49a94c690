"""The API description is a contract: schemathesis generates requests from ``/openapi.json``
(valid and invalid ones, bounded in number) for every operation, sends them with each role's
key to a service holding a scored school (both databases), and checks that no answer is a
server error and every answer is one the description declares — its status, content type,
headers and body schema."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from serving.app import create_app
from serving.db import Database
from tests.serving.helpers import (
    SCHOOL,
    FakeSource,
    Service,
    add_keys,
    emptied,
    load_weeks,
    make_school,
    make_settings,
)

ROLES = ("school", "practitioner", "analyst", "admin")
EXAMPLES = 20
"""Examples per operation, each sent with every role's key (16 operations × 4 roles × 2
databases stay near a minute)."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def contract_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """One service per database for the whole module: a school with six scored weeks, a
    referral, and one key per role."""
    tmp_path = tmp_path_factory.mktemp("contract")
    if request.param == "sqlite":
        path = tmp_path / "ews.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = emptied(request.getfixturevalue("postgres_template"))
    db = Database(url, busy_timeout_ms=2000)
    app = create_app(make_settings(tmp_path), db=db, model_source=FakeSource("1"))
    app.state.holder.refresh()  # schemathesis starts the lifespan itself, later
    service = Service(TestClient(app), db, None, add_keys(db))
    school = make_school()
    load_weeks(service, school, range(1, 7))
    made = service.client.post(
        "/v1/referrals",
        json={"school_urn": school.urn, "upn": school.upns[-1]},
        headers=service.auth("school"),
    )
    assert made.status_code == 201, made.text
    try:
        yield service
    finally:
        from schemathesis.python import asgi

        asgi.shutdown_lifespans()  # the lifespan schemathesis started for this app
        db.dispose()


@pytest.fixture(scope="module")
def contract(contract_service: Service) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", contract_service.client.app)


STORED = {"urn": SCHOOL, "school": SCHOOL, "school_urn": SCHOOL, "referral_id": 1}
"""Values that name what the service holds: the school, its referral."""


def _stored(case: schemathesis.Case, pin: bool) -> schemathesis.Case:
    """``case`` asking for the stored school (and one of its pupils) when ``pin``: random URNs
    reach only refusals, and the answers with data are what most needs checking."""
    if pin:
        for where in (case.path_parameters, case.query):
            for name, value in STORED.items():
                if where is not None and name in where:
                    where[name] = value
        if case.path_parameters and "upn" in case.path_parameters:
            case.path_parameters["upn"] = make_school().upns[-1]
    return case


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_answer_is_one_the_api_description_declares(
    contract: schemathesis.BaseSchema, contract_service: Service, mode: GenerationMode
) -> None:
    """Valid requests (positive) and requests the description says are wrong (negative)."""
    answered: Counter[int] = Counter()
    nothing_to_break = []
    for result in contract.get_all_operations():
        operation = result.ok()

        cases = operation.as_strategy(generation_mode=mode)
        if mode is GenerationMode.POSITIVE:  # half the valid requests ask for what is stored
            cases = st.tuples(cases, st.booleans()).map(lambda pair: _stored(*pair))

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=cases)
        def each_role(case: schemathesis.Case) -> None:
            for role in ROLES:  # the same request with each role's key
                headers = {**(case.headers or {}), **contract_service.auth(role)}
                response = case.call_and_validate(headers=headers, checks=CHECKS)
                answered[response.status_code] += 1

        try:
            each_role()
        except Unsatisfiable:  # an operation that takes nothing cannot be sent wrong
            nothing_to_break.append(operation)
    for operation in nothing_to_break:
        definition = operation.definition.raw
        assert mode is GenerationMode.NEGATIVE, operation.label
        assert not definition.get("parameters") and "requestBody" not in definition, operation.label
    # The run reached the service's answers, not only its refusals.
    assert answered[422] > 0 and answered[403] > 0, answered
    if mode is GenerationMode.POSITIVE:
        assert answered[200] > 100 and answered[201] > 0, answered


def test_upload_and_scoring_routes_describe_their_files(contract: schemathesis.BaseSchema):
    """A client generated from the description sends the file the way the service reads it."""
    paths = contract.raw_schema["paths"]
    for path, method in [
        ("/v1/schools/{urn}/roster", "post"),
        ("/v1/schools/{urn}/registers", "post"),
        ("/v1/schools/{urn}/display-codes", "put"),
    ]:
        content = paths[path][method]["requestBody"]["content"]
        form = content["multipart/form-data"]["schema"]
        assert form["properties"]["file"] == {"type": "string", "format": "binary"}, path
        assert form["required"] == ["file"] and "text/csv" in content, path
    score = paths["/v1/score"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(score["properties"]) == {"registers", "roster"} and score["required"] == [
        "registers"
    ]
    for path, operations in paths.items():
        for method, operation in operations.items():
            declared = set(operation["responses"])
            assert any(code.startswith("2") for code in declared), (method, path)
            if path.startswith("/v1/"):
                assert {"401", "503"} <= declared, (method, path)
