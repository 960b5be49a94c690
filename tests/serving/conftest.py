"""Registers the service fixtures (:mod:`tests.serving.fixtures`); helpers are imported from
:mod:`tests.serving.helpers`, never from here."""

from tests.serving.fixtures import (  # noqa: F401 (fixtures are found by name)
    broken_audit,
    db,
    db_url,
    no_model_service,
    postgres_template,
    school,
    service,
    sqlite_template,
)
