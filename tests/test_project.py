"""Project files agree with each other: the two dependency lists, the README's commands."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _requirements() -> set[str]:
    lines = (REPO / "requirements.txt").read_text().splitlines()
    return {line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()}


def _environment() -> set[str]:
    text = (REPO / "environment.yml").read_text()
    return {m.group(1).strip() for m in re.finditer(r"^\s{6}- (.+)$", text, re.MULTILINE)}


def test_requirements_and_environment_list_the_same_dependencies():
    assert _requirements() == _environment()


def test_every_requirement_has_a_lower_bound():
    assert all(">=" in req or "==" in req for req in _requirements())


def test_readme_documents_the_two_commands_and_data_settings():
    readme = (REPO / "README.md").read_text()
    for needle in (
        "make lab",
        "make test",
        "D2L_DATA_DIR",
        "dataset-fashion-mnist",
        "D2L_EPOCH_FRACTION",
    ):
        assert needle in readme, needle


def test_ci_runs_the_readme_test_command_with_the_real_data():
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci and "dataset-fashion-mnist" in ci


def test_every_chapter_opens_with_the_same_colab_cell():
    import nbformat

    chapters = sorted((REPO / "chapters").glob("*.ipynb"))
    first_code = [
        next(c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code")
        for p in chapters
    ]
    assert len(chapters) >= 11
    assert all(src == first_code[0] for src in first_code), [p.name for p in chapters]
    assert "google.colab" in first_code[0] and "pip install" in first_code[0]
