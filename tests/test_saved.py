"""The chapters' `#@save` cells: the generated module matches them, and what they save works."""

import ast
import importlib.util
import re
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
    _write_chapter(tmp_path, "01_a.ipynb", [SAVED_F])
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


def test_the_tool_reports_a_cell_it_refuses_in_one_line(tmp_path, monkeypatch, capsys):
    _write_chapter(tmp_path, "01_a.ipynb", ["#@save\ndef f():\n    return 1"])
    monkeypatch.setattr(save_cells, "CHAPTERS", tmp_path)
    monkeypatch.setattr(save_cells, "TARGET", tmp_path / "saved.py")
    assert save_cells.main([]) == 1
    assert capsys.readouterr().err.startswith("save_cells: 01_a.ipynb, cell 0: ")
    assert not (tmp_path / "saved.py").exists()


# --- the generated module stands on its own ---------------------------------------------


def test_the_saved_module_imports_and_runs_without_the_package_root():
    # A stand-in for the package root that runs none of d2lhelpers/__init__.py: the saved
    # module must import the helpers it uses from their modules, not from the root. The
    # range test calls d2l.EMA and d2l.diverged, two package helpers, on every step.
    script = f"""
import sys, types
import torch
root = types.ModuleType("d2lhelpers")
root.__path__ = [{str(REPO / "d2lhelpers")!r}]
sys.modules["d2lhelpers"] = root
import d2lhelpers.saved as saved
assert not hasattr(root, "train") and not hasattr(root, "lr_range_test")
torch.manual_seed(0)
net = torch.nn.Linear(3, 2)
batches = [(torch.randn(4, 3), torch.randint(0, 2, (4,))) for _ in range(5)]
trainer = saved.ScratchAdam(net.parameters())
lrs, raw, smoothed = saved.lr_range_test(
    net, trainer, batches, torch.nn.CrossEntropyLoss(), "cpu", lr_min=1e-3, lr_max=1e-2
)
print(len(lrs), type(saved.Muon([torch.zeros(2, 2, requires_grad=True)])).__name__)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["5", "Muon"]


def test_the_saved_module_imports_no_name_from_the_package_root():
    tree = ast.parse((REPO / "d2lhelpers" / "saved.py").read_text())
    modules = {path.stem for path in (REPO / "d2lhelpers").glob("*.py")} - {"__init__", "saved"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert all(not alias.name.startswith("d2lhelpers") for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            assert node.level == 1 and node.module in modules, ast.unparse(node)
        elif isinstance(node, ast.FunctionDef):
            assert node.name != "__getattr__", "no lazy fall-back into the package"


def test_every_public_saved_name_has_a_docstring():
    for name in d2l.saved.__all__:
        assert getattr(d2l.saved, name).__doc__, name


# --- what the tool copies ---------------------------------------------------------------

SAVED_F = '#@save\ndef f():\n    """One."""\n    return 1'


def test_only_cells_whose_first_line_is_the_mark_are_copied_in_chapter_order(tmp_path):
    _write_chapter(tmp_path, "02_b.ipynb", ['# @save\ndef second():\n    """Two."""\n    return 2'])
    _write_chapter(
        tmp_path,
        "01_a.ipynb",
        [
            "x = 1\n#@save\ndef not_saved():\n    return 0",
            '#@save\ndef first():\n    """One."""\n    return 1',
        ],
    )
    text = save_cells.generate(tmp_path)
    assert "not_saved" not in text
    assert text.index("def first") < text.index("def second")
    assert '__all__ = [\n    "first",\n    "second",\n]' in text


def test_each_block_names_the_chapter_and_cell_to_edit(tmp_path):
    _write_chapter(tmp_path, "01_a.ipynb", ["x = 1", "y = 2", SAVED_F])
    text = save_cells.generate(tmp_path)
    assert "# From chapters/01_a.ipynb, cell 2\ndef f():" in text
    assert "do not edit" in text


def test_imports_are_hoisted_merged_and_sorted(tmp_path):
    _write_chapter(
        tmp_path,
        "01_a.ipynb",
        [
            '#@save\nimport torch\nimport math\n\n\ndef f():\n    """F."""\n'
            "    return torch.tensor(math.pi)",
            '#@save\nimport math\nimport d2lhelpers as d2l\n\n\ndef g():\n    """G."""\n'
            "    return d2l.f()",
        ],
    )
    text = save_cells.generate(tmp_path)
    head = text[: text.index("# Saved code")]
    assert head.endswith("import math\nimport sys\n\nimport torch\n\n")
    assert text.count("import math") == 1
    assert "\nimport d2lhelpers as d2l" not in text


def test_exactly_the_package_helpers_used_as_d2l_names_are_imported(tmp_path):
    _write_chapter(
        tmp_path,
        "01_a.ipynb",
        [
            '#@save\ndef check(a, b):\n    """Agree?"""\n    return d2l.agree("a", a, b)',
            '#@save\nclass Smooth(d2l.EMA):\n    """An EMA."""\n\n\n'
            'def both():\n    """Both."""\n'
            "    return d2l.Smooth, d2l.check, d2l.schedulers, d2l.plt",
        ],
    )
    text = save_cells.generate(tmp_path)
    head = text[: text.index("# Saved code")]
    assert "import matplotlib.pyplot as plt  # noqa: F401\n" in head
    assert "from . import schedulers  # noqa: F401\n" in head
    assert "from .checks import agree  # noqa: F401\n" in head
    assert "from .tuning import EMA  # noqa: F401\n" in head
    assert "ema_smooth" not in head and "Smooth" not in head and "check\n" not in head


def test_a_generated_module_resolves_d2l_names_to_saved_code_and_the_package(tmp_path):
    _write_chapter(
        tmp_path,
        "01_a.ipynb",
        [
            '#@save\nclass Base:\n    """Base."""\n\n    def value(self):\n        return 1',
            '#@save\nclass Child(d2l.Base):\n    """Child."""\n\n    def value(self):\n'
            "        return d2l.Timer",
        ],
    )
    module = type(sys)("d2lhelpers.generated_for_test")
    module.__package__ = "d2lhelpers"  # so that `from .timing import Timer` finds the package
    sys.modules[module.__name__] = module
    try:
        exec(compile(save_cells.generate(tmp_path), "saved.py", "exec"), module.__dict__)
    finally:
        del sys.modules[module.__name__]
    assert issubclass(module.Child, module.Base)
    assert module.Child().value() is d2l.Timer


@pytest.mark.parametrize(
    "source, message",
    [
        ("#@save\nprint('side effect')", "runs code"),
        ("#@save\nfrom d2lhelpers import train", "d2l.NAME"),
        ("#@save\ndef f(:\n    pass", "not valid Python"),
        ("#@save\nimport math", "defines nothing"),
        ("#@save\ndef f():\n    return 1", "the saved name f has no docstring"),
        ("#@save\nclass C:\n    pass", "the saved name C has no docstring"),
        ("#@save\nLIMIT = 4", "the saved name LIMIT has no docstring"),
        ('#@save\ndef f():\n    """F."""\n    return d2l.no_such_helper', "d2l.no_such_helper"),
        ('#@save\ndef f():\n    """F."""\n    return lr * 2', "reads lr, which it does not"),
        ('#@save\ndef f():\n    """F."""\n    return math.pi', "reads math"),
        ('#@save\ndef f():\n    """F."""\n    return train(1)', "write d2l.train"),
        ('#@save\ndef agree():\n    """Mine."""', "already the package's d2l.agree"),
    ],
)
def test_a_cell_that_cannot_be_saved_is_an_error_naming_it(tmp_path, source, message):
    _write_chapter(tmp_path, "03_c.ipynb", ["x = 1", source])
    with pytest.raises(save_cells.SaveError, match=re.escape(message)) as error:
        save_cells.generate(tmp_path)
    assert str(error.value).startswith("03_c.ipynb, cell 1: ")


@pytest.mark.parametrize(
    "source",
    [
        '#@save\ndef f():\n    """F."""\n    return len(d2l.agree.__name__)',  # builtin, package
        '#@save\nimport math\n\n\ndef f():\n    """F."""\n    return math.pi',  # its import
        '#@save\ndef _private():\n    return 1\n\n\ndef f():\n    """F."""\n    return _private()',
        '#@save\nLIMIT = 4\n"""The limit."""',  # a constant's docstring follows it
    ],
)
def test_a_cell_that_imports_or_defines_what_it_reads_is_saved(tmp_path, source):
    # The negative controls of the test above: each of these is accepted.
    _write_chapter(tmp_path, "03_c.ipynb", ["x = 1", source])
    assert "# From chapters/03_c.ipynb, cell 1" in save_cells.generate(tmp_path)


def test_a_bare_name_must_be_saved_earlier_in_the_same_chapter(tmp_path):
    uses_g = '#@save\ndef f():\n    """F."""\n    return g()'
    defines_g = '#@save\ndef g():\n    """G."""\n    return 1'
    _write_chapter(tmp_path, "01_a.ipynb", [defines_g, uses_g])
    assert "return g()" in save_cells.generate(tmp_path)
    (tmp_path / "01_a.ipynb").unlink()
    _write_chapter(tmp_path, "01_a.ipynb", [defines_g])
    _write_chapter(tmp_path, "02_b.ipynb", [uses_g])  # another chapter: it must say d2l.g
    with pytest.raises(save_cells.SaveError, match=r"02_b.ipynb, cell 0: .* write d2l\.g"):
        save_cells.generate(tmp_path)
    (tmp_path / "01_a.ipynb").unlink()
    (tmp_path / "02_b.ipynb").unlink()
    _write_chapter(tmp_path, "01_a.ipynb", [uses_g, defines_g])  # later in the chapter
    with pytest.raises(save_cells.SaveError, match=r"cell 0: the saved code reads g"):
        save_cells.generate(tmp_path)


def test_a_name_saved_twice_is_an_error(tmp_path):
    _write_chapter(tmp_path, "01_a.ipynb", [SAVED_F])
    _write_chapter(tmp_path, "02_b.ipynb", [SAVED_F])
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
        (dict(lr=-1.0), "Invalid learning rate: -1.0"),
        (dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
        (dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
        (dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    ],
)
def test_scratch_adam_rejects_bad_hyperparameters_in_torch_optims_words(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(f"ScratchAdam: {message}")):
        d2l.ScratchAdam([torch.zeros(1, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=re.escape(message)):  # torch's words, for torch's class
        torch.optim.Adam([torch.zeros(1, requires_grad=True)], **kwargs)


def test_scratch_adam_refuses_sparse_gradients():
    embedding = torch.nn.Embedding(10, 3, sparse=True)
    optimizer = d2l.ScratchAdam(embedding.parameters())
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="SparseAdam"):
        optimizer.step()


# --- yogi, saved by chapter 08 ----------------------------------------------------------


def _yogi_steps(gradients, **hyperparams):
    x = torch.zeros(3, requires_grad=True)
    states, hyperparams = [(torch.zeros(3), torch.zeros(3))], {"lr": 0.01, "t": 1, **hyperparams}
    for g in gradients:
        x.grad = g.clone()
        d2l.yogi([x], states, hyperparams)
    return x.detach(), states[0], hyperparams


def test_yogi_first_step_equals_adams():
    g = torch.tensor([0.5, -2.0, 3.0])
    ours, _, _ = _yogi_steps([g], eps=1e-8)
    x = torch.zeros(3, requires_grad=True)
    adam = torch.optim.Adam([x], lr=0.01)
    x.grad = g.clone()
    adam.step()
    torch.testing.assert_close(ours, x.detach(), atol=1e-7, rtol=0)


def test_yogi_second_moment_grows_linearly_under_a_constant_gradient():
    g = torch.tensor([0.5, -2.0, 3.0])
    _, (_, s), hyperparams = _yogi_steps([g] * 100)
    torch.testing.assert_close(s, 100 * (1 - 0.999) * g**2, atol=1e-6, rtol=0)
    assert hyperparams["t"] == 101


def test_yogi_needs_the_step_counter():
    with pytest.raises(KeyError, match="t"):
        d2l.yogi([torch.zeros(1, requires_grad=True)], [(torch.zeros(1), torch.zeros(1))], {})
