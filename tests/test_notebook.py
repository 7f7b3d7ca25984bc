"""The quickstart notebook runs top to bottom on the embedded broker."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


@pytest.mark.ray
def test_quickstart_notebook_runs_and_reports_delivered_events():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    outputs = [
        "".join(
            o.get("text", "") or o.get("data", {}).get("text/plain", "")
            for o in c.outputs
        )
        for c in notebook.cells
        if c.cell_type == "code"
    ]
    last = outputs[-1]
    assert "'delivered'" in last and "True" in last, last
    delivered = eval(outputs[2], {})  # {topic: delivered} after five seconds
    assert sum(delivered.values()) > 0
