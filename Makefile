# Two commands: `make lab` to learn, `make test` to check everything.
# Both create (or reuse) .venv in the repository root with Python >= 3.10.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test lint bench dist clean-venv

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python >= 3.10 is needed; found " + sys.version.split()[0] + ". Run: make PYTHON=python3.11 ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

# JupyterLab on chapters/, no browser, root too (tools/lab.sh): open the URL it prints.
# It first installs the git filter that keeps a learner's saved outputs out of `git status`.
LAB_PORT ?= 8888
lab: $(STAMP)
	JUPYTER=$(BIN)/jupyter LAB_PORT=$(LAB_PORT) sh tools/lab.sh

# Test runs shorten Fashion-MNIST epochs (README, Data); learners' runs stay full length.
# One thread, as the prose's numbers were measured: on 2 cores shared with JupyterLab and
# Chromium, torch's second thread spins and made an MLP step 20 times slower (548 ms, 24 ms).
test: export D2L_EPOCH_FRACTION ?= 0.05
test: export OMP_NUM_THREADS ?= 1
# Two workers, one per core (TEST_WORKERS=0 runs the tests in this process); each takes
# whole files, so a notebook's cells run in order in one kernel (conftest.py's scheduler).
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/ruff check d2lhelpers tests chapters tools bench conftest.py
	$(BIN)/ruff format --check d2lhelpers tests chapters tools bench conftest.py
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# Side by side with PyPI's d2l 1.0.3 (bench/run.py; results in bench/RESULTS.md). d2l is
# installed without its pinned dependencies; the bench extra holds what its helpers import.
# Its `course` workload runs the notebooks as `make test` does, with the same epoch fraction.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m pip install --quiet --no-deps d2l==1.0.3
	@touch $(BENCH_STAMP)

bench: export D2L_EPOCH_FRACTION ?= 0.05
bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py

# The sdist and the wheel, in dist/ (README, Releasing). tests/test_wheel.py builds the
# same way, without network (--no-isolation), and runs chapter 01 against the wheel.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

# `make book`: execute every chapter (full length unless D2L_EPOCH_FRACTION is set) and
# render the course as a static site in book/_build/html (README, "Reading the course as a
# book"). Chapters unchanged since the last build are not executed again.
BOOK_STAMP := $(VENV)/.book-installed

$(BOOK_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[book]'
	@touch $(BOOK_STAMP)

.PHONY: book
book: $(BOOK_STAMP)
	$(BIN)/python tools/build_book.py

# tests/test_book.py builds the book at the test fraction.
test: $(BOOK_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check d2lhelpers tests chapters tools bench conftest.py
	$(BIN)/ruff format --check d2lhelpers tests chapters tools bench conftest.py

# The git filter `make lab` installed runs the venv's Python: without the venv, git would
# stop at every notebook, so the filter goes with it (`make lab` installs it again).
clean-venv:
	rm -rf $(VENV)
	-git config --remove-section filter.nbstripout 2>/dev/null
	-git config --remove-section diff.ipynb 2>/dev/null
