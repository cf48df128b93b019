"""00_setup's version check: it stops on a PyTorch older than the floor and says what to do."""

import re
import sys
import types
from pathlib import Path

import nbformat
import pytest
from torch.torch_version import TorchVersion

REPO = Path(__file__).resolve().parent.parent
CHECK = 'torch.__version__ < "'


def _check_cell() -> str:
    nb = nbformat.read(REPO / "chapters" / "00_setup.ipynb", as_version=4)
    (source,) = [c.source for c in nb.cells if c.cell_type == "code" and CHECK in c.source]
    return source


def _run_with_torch(version: str, monkeypatch) -> str:
    fake = types.ModuleType("torch")
    fake.__version__ = TorchVersion(version)
    monkeypatch.setitem(sys.modules, "torch", fake)
    printed = []
    exec(_check_cell(), {"print": lambda *a: printed.append(" ".join(map(str, a)))})
    return "\n".join(printed)


def test_setup_stops_on_a_torch_older_than_the_floor_and_says_how_to_upgrade(monkeypatch):
    with pytest.raises(RuntimeError) as error:
        _run_with_torch("2.8.0+cu126", monkeypatch)
    message = str(error.value)
    assert "2.8.0+cu126" in message and "2.9" in message
    assert '%pip install -U "torch>=2.9" "torchvision>=0.24"' in message
    assert "Restart session" in message  # what to do on Colab


def test_setup_accepts_torch_2_10_which_a_comparison_of_strings_would_refuse(monkeypatch):
    assert "2.9 or newer" in _run_with_torch("2.10.0", monkeypatch)
    assert "2.9 or newer" in _run_with_torch("2.9.0+cpu", monkeypatch)


def test_the_setup_check_uses_the_floor_that_pyproject_declares():
    pyproject = (REPO / "pyproject.toml").read_text()
    (floor,) = re.findall(r'"torch>=([0-9.]+)"', pyproject)
    (vision,) = re.findall(r'"torchvision>=([0-9.]+)"', pyproject)
    source = _check_cell()
    assert f'{CHECK}{floor}"' in source
    assert f'"torch>={floor}" "torchvision>={vision}"' in source
