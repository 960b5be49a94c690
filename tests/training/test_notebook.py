"""The evaluation notebook runs top to bottom against a registered model, and is committed
without outputs."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.training.conftest import TEST_MODEL_NAME

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "3.0-model-evaluation.ipynb"


def test_notebook_is_committed_without_outputs() -> None:
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_notebook_reproduces_the_evaluation(logged, authority_dir, store, monkeypatch) -> None:
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    monkeypatch.setenv("EWS_NOTEBOOK_AUTHORITY", str(authority_dir))
    monkeypatch.setenv("EWS_NOTEBOOK_MODEL_VERSION", logged.version)
    monkeypatch.setenv("EWS_MODEL_NAME", TEST_MODEL_NAME)
    # The kernel imports the packages from the repository root.
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    text = "\n".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert f"{TEST_MODEL_NAME} version {logged.version}" in text
    assert "Year-to-date rule" in text and "pooled" in text
    # The headline numbers agree with those logged by the training run.
    match = re.search(
        r"reproduces the logged run: (\d+) pooled numbers, largest difference (\S+)", text
    )
    assert match, "the notebook did not compare its numbers with the logged run"
    assert int(match[1]) >= 30 and float(match[2]) < 1e-9
    images = [
        o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert len(images) == 4
