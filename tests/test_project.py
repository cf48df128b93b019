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


def _tool(name: str):
    sys.path.insert(0, str(REPO / "tools"))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(REPO / "tools"))


def test_every_chapter_opens_with_the_colab_cell_of_six_lines_hidden_in_the_book():
    import nbformat

    colab_cell = _tool("colab_cell")
    want = colab_cell.colab_cell(_version(), colab_cell.project_home())
    chapters = sorted((REPO / "chapters").glob("*.ipynb"))
    assert len(chapters) >= 11
    for path in chapters:
        cell = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert cell.source == want, f"{path.name}: run tools/colab_cell.py"
        assert "remove-cell" in cell.metadata.get("tags", []), path.name
    assert len(want.splitlines()) <= 6 and "google.colab" in want and "%pip install" in want


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


def test_the_courses_home_is_written_in_pyproject_only():
    lines = _pyproject_lines()
    assert "[project.urls]" in lines
    names = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    home = _tool("colab_cell").project_home()
    elsewhere = [
        name
        for name in names
        if name != "pyproject.toml"
        and (REPO / name).is_file()
        and re.search(r"^Repository\s*=", (REPO / name).read_text(errors="replace"), re.M)
    ]
    assert not elsewhere, f"a home is set outside pyproject.toml: {elsewhere}"
    if home is None:
        chapters = [p.name for p in (REPO / "chapters").glob("*.ipynb")]
        linked = [
            n
            for n in chapters
            if "colab.research.google.com" in (REPO / "chapters" / n).read_text()
        ]
        assert not linked, f"chapters link to Colab without a home: {linked}"


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


def test_readme_says_how_to_start_and_what_works_on_colab():
    readme = (REPO / "README.md").read_text()
    for heading in ("## How to start", "## Two commands", "## On Colab", "## A quick pass"):
        assert heading in readme, heading
    for needle in ("00_setup", "ssh -L", "--allow-root", "make dist", "for contributors"):
        assert needle in readme, needle


def test_contributing_says_how_to_release_test_and_what_the_api_is():
    guide = (REPO / "CONTRIBUTING.md").read_text()
    for heading in ("## Releasing", "## Tests", "## The `d2lhelpers` API", "## Stored outputs"):
        assert heading in guide, heading
    for needle in ("make dist", "twine", "tools/colab_cell.py", "nbval-check-output"):
        assert needle in guide, needle


def test_the_readme_is_a_learners_page_with_the_time_of_every_chapter():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `(\d\d_\w+)` \|.*\| ([^|]+) \|$", readme, re.M)
    }
    chapters = sorted(p.stem for p in (REPO / "chapters").glob("*.ipynb"))
    assert sorted(rows) == chapters, "the README's chapter table does not list every chapter"
    for chapter, time in rows.items():
        assert re.search(r"\d+ (s|min)|not yet measured", time), (chapter, time)
    # Results and run logs live in bench/FULL_LENGTH.md: they give the chapters away.
    for spoiler in ("test acc", "train loss", "wall time", "| schedule |", "| optimizer |"):
        assert spoiler not in readme, spoiler
    assert (REPO / "bench" / "FULL_LENGTH.md").exists() and "bench/FULL_LENGTH.md" in readme
