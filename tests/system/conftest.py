"""Whole-system tests (HTTP end to end with a real model, the champion moving under load, the
browser, the demo, the server's own log) use the service fixtures too."""

from tests.serving.fixtures import (  # noqa: F401 (fixtures are found by name)
    db,
    db_url,
    postgres_template,
    sqlite_template,
)
from tests.system.browser import chromium_path  # noqa: F401 (a fixture, found by name)
