"""The chapters' `#@save` cells: the generated module matches them, and what they save works."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

import d2lhelpers as d2l

REPO = Path(__file__).resolve().parent.parent


def _load_tool():
    spec = importlib.util.spec_from_file_location("save_cells", REPO / "tools" / "save_cells.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["save_cells"] = module
    spec.loader.exec_module(module)
    return module


save_cells = _load_tool()


def _write_chapter(folder: Path, name: str, sources: list[str]) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, folder / name)


# --- the generated module is current ---------------------------------------------------


def test_saved_module_is_what_the_tool_generates_from_the_chapters():
    current = (REPO / "d2lhelpers" / "saved.py").read_text()
    assert current == save_cells.generate(), (
        "d2lhelpers/saved.py is stale: run `python tools/save_cells.py`"
    )


def test_check_mode_passes_on_the_repository():
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "save_cells.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_check_mode_fails_on_a_stale_copy_and_passes_once_rewritten(tmp_path, monkeypatch, capsys):
    _write_chapter(tmp_path, "01_a.ipynb", ["#@save\ndef f():\n    return 1"])
    target = tmp_path / "saved.py"
    target.write_text("# an old copy\n")
    monkeypatch.setattr(save_cells, "REPO", tmp_path)
    monkeypatch.setattr(save_cells, "CHAPTERS", tmp_path)
    monkeypatch.setattr(save_cells, "TARGET", target)
    assert save_cells.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert save_cells.main([]) == 0
    assert save_cells.main(["--check"]) == 0
    assert "def f():" in target.read_text()


# --- what the tool copies ---------------------------------------------------------------


def test_only_cells_whose_first_line_is_the_mark_are_copied_in_chapter_order(tmp_path):
    _write_chapter(tmp_path, "02_b.ipynb", ["# @save\ndef second():\n    return 2"])
    _write_chapter(
        tmp_path,
        "01_a.ipynb",
        [
            "x = 1\n#@save\ndef not_saved():\n    return 0",
            "#@save\ndef first():\n    return 1",
        ],
    )
    text = save_cells.generate(tmp_path)
    assert "not_saved" not in text
    assert text.index("def first") < text.index("def second")
    assert '__all__ = [\n    "first",\n    "second",\n]' in text


def test_imports_are_hoisted_merged_and_sorted(tmp_path):
    _write_chapter(
        tmp_path,
        "01_a.ipynb",
        [
            "#@save\nimport torch\nimport math\n\n\ndef f():\n    return torch.tensor(math.pi)",
            "#@save\nimport math\nimport d2lhelpers as d2l\n\n\ndef g():\n    return d2l.f()",
        ],
    )
    text = save_cells.generate(tmp_path)
    head = text[: text.index("# Saved code")]
    assert "import math\nimport sys\n\nimport torch\n" in head
    assert text.count("import math") == 1
    assert "\nimport d2lhelpers as d2l" not in text


def test_generated_module_runs_and_resolves_d2l_names(tmp_path):
    _write_chapter(
        tmp_path,
        "01_a.ipynb",
        [
            "#@save\nclass Base:\n    def value(self):\n        return 1",
            "#@save\nclass Child(d2l.Base):\n    def value(self):\n        return d2l.Timer",
        ],
    )
    module = type(sys)("generated_for_test")
    sys.modules["generated_for_test"] = module
    try:
        exec(compile(save_cells.generate(tmp_path), "saved.py", "exec"), module.__dict__)
    finally:
        del sys.modules["generated_for_test"]
    assert issubclass(module.Child, module.Base)
    assert module.Child().value() is d2l.Timer


@pytest.mark.parametrize(
    "source, message",
    [
        ("#@save\nprint('side effect')", "runs code"),
        ("#@save\nfrom d2lhelpers import train", "d2l.NAME"),
        ("#@save\ndef f(:\n    pass", "not valid Python"),
        ("#@save\nimport math", "defines nothing"),
    ],
)
def test_a_cell_that_cannot_be_saved_is_an_error_naming_it(tmp_path, source, message):
    _write_chapter(tmp_path, "03_c.ipynb", ["x = 1", source])
    with pytest.raises(save_cells.SaveError, match=message) as error:
        save_cells.generate(tmp_path)
    assert "03_c.ipynb, cell 1" in str(error.value)


def test_a_name_saved_twice_is_an_error(tmp_path):
    _write_chapter(tmp_path, "01_a.ipynb", ["#@save\ndef f():\n    return 1"])
    _write_chapter(tmp_path, "02_b.ipynb", ["#@save\ndef f():\n    return 2"])
    with pytest.raises(save_cells.SaveError, match="f more than once"):
        save_cells.generate(tmp_path)


# --- ScratchAdam, saved by chapter 08 ---------------------------------------------------


def _train(make_optimizer, steps=30):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    optimizer = make_optimizer(net.parameters())
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        X = torch.randn(8, 5, generator=generator)
        optimizer.zero_grad()
        ((net(X) - X[:, :1]) ** 2).mean().backward()
        optimizer.step()
    return torch.cat([p.detach().flatten() for p in net.parameters()])


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (dict(weight_decay=0.1), lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1)),
        (
            dict(weight_decay=0.1, decoupled_weight_decay=True),
            lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
        ),
        (dict(amsgrad=True), lambda ps: torch.optim.Adam(ps, lr=0.01, amsgrad=True)),
    ],
)
def test_scratch_adam_follows_torch_optim(ours, theirs):
    mine = _train(lambda ps: d2l.ScratchAdam(ps, lr=0.01, **ours))
    torch.testing.assert_close(mine, _train(theirs), atol=1e-6, rtol=0)


def test_scratch_adam_differs_from_adam_with_other_betas():
    mine = _train(lambda ps: d2l.ScratchAdam(ps, lr=0.01))
    other = _train(lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.9, 0.99)))
    assert (mine - other).abs().max() > 1e-4


def test_a_subclass_changes_the_rule_by_overriding_one_method():
    class NoSecondMoment(d2l.ScratchAdam):
        def second_moment(self, s, grad, beta2):
            s.fill_(1 - beta2)  # ŝ = 1: the step is η v̂, momentum SGD with bias correction

    mine = _train(lambda ps: NoSecondMoment(ps, lr=0.01, eps=0.0), steps=1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    before = torch.cat([p.detach().flatten() for p in net.parameters()])
    X = torch.randn(8, 5, generator=torch.Generator().manual_seed(1))
    ((net(X) - X[:, :1]) ** 2).mean().backward()
    grad = torch.cat([p.grad.flatten() for p in net.parameters()])
    torch.testing.assert_close(mine, before - 0.01 * grad, atol=1e-7, rtol=0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lr=-1.0), "learning rate"),
        (dict(betas=(0.9, 1.0)), "betas"),
        (dict(eps=-1e-8), "eps"),
        (dict(weight_decay=-0.1), "weight_decay"),
    ],
)
def test_scratch_adam_rejects_bad_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        d2l.ScratchAdam([torch.zeros(1, requires_grad=True)], **kwargs)


def test_scratch_adam_refuses_sparse_gradients():
    embedding = torch.nn.Embedding(10, 3, sparse=True)
    optimizer = d2l.ScratchAdam(embedding.parameters())
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="SparseAdam"):
        optimizer.step()
