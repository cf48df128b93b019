"""Project files agree with each other: dependency lists, version, README, the Colab cell."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VERSION_LINE = re.compile(r'^__version__ = "([^"]+)"$', re.MULTILINE)


def _version() -> str:
    (version,) = VERSION_LINE.findall((REPO / "d2lhelpers" / "__init__.py").read_text())
    return version


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
    assert "google.colab" in first_code[0] and '"pip", "install"' in first_code[0]


def test_the_colab_cell_pins_the_package_version():
    import nbformat

    cell = next(
        c.source
        for c in nbformat.read(REPO / "chapters" / "00_setup.ipynb", as_version=4).cells
        if c.cell_type == "code"
    )
    pins = re.findall(r"d2lhelpers==([^\"\s]+)", cell)
    assert pins == [_version()], (
        f"The Colab cell pins {pins}, the package is {_version()}: run tools/colab_cell.py"
    )


def test_colab_cell_tool_reports_chapters_out_of_date():
    check = subprocess.run(
        [sys.executable, str(REPO / "tools" / "colab_cell.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0 and check.stdout.startswith("0 chapters differ"), check.stdout


def _pyproject_lines() -> list[str]:
    # Python 3.10 has no tomllib; the lines checked here are simple `key = value` ones.
    return (REPO / "pyproject.toml").read_text().splitlines()


def test_the_version_is_set_in_one_place():
    lines = _pyproject_lines()
    start = lines.index("[project]") + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("["))
    assert 'dynamic = ["version"]' in lines[start:end]
    assert not [line for line in lines[start:end] if line.startswith("version")]
    assert 'version = { attr = "d2lhelpers.__version__" }' in lines
    assert re.fullmatch(r"\d+\.\d+\.\d+", _version())


def test_the_licence_is_an_spdx_expression_with_its_file():
    lines = _pyproject_lines()
    assert 'license = "MIT"' in lines and 'license-files = ["LICENSE"]' in lines
    assert (REPO / "LICENSE").read_text().startswith("MIT License")


def test_readme_says_how_to_release_and_what_the_colab_cell_does():
    readme = (REPO / "README.md").read_text()
    for heading in ("## Releasing", "## On Colab"):
        assert heading in readme, heading
    for needle in ("make dist", "twine", "tools/colab_cell.py", "ssh -L", "--allow-root"):
        assert needle in readme, needle
