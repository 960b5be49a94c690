"""Settings shared by the whole suite."""

from __future__ import annotations

import os

from hypothesis import settings

# Locally, property tests explore new examples on every run (and keep the failures they find
# in .hypothesis/). Under CI the same examples are drawn every time, so a submission's result
# does not depend on the luck of the draw; a failure found locally becomes a fixed test.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
