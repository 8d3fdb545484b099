# Studio: `make run` launches the app, `make test` runs the whole suite. Both set up .venv from uv.lock first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
# uv installs exactly what uv.lock pins (the version of uv itself is pinned in pyproject's dev group)
UV_VERSION := $(shell sed -n 's/^ *"uv==\([0-9.]*\)".*/\1/p' pyproject.toml)
# optional extras to install beside the default `train` (e.g. make run EXTRAS="train nemo")
EXTRAS ?= train
empty :=
space := $(empty) $(empty)
STAMP := $(VENV)/.synced-$(subst $(space),-,$(strip $(EXTRAS)))
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))

.PHONY: install run test test-space lock lint bench browser tools clean

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet "uv==$(UV_VERSION)"

# --frozen: install the lock as it is, never re-resolve; a lock that disagrees with pyproject.toml fails a test.
# --compile-bytecode: write every package's .pyc once at install. Without it, where PYTHONDONTWRITEBYTECODE is set
# (CI images often set it) each new process compiles torch, transformers and peft again: 20 s before a trainer starts
$(STAMP): $(UV) uv.lock Makefile
	$(UV) sync --frozen --compile-bytecode --python $(PY) $(addprefix --extra ,$(EXTRAS))
	rm -f $(VENV)/.synced-*
	touch $(STAMP)

install: $(STAMP)

# Change the lock on purpose: re-resolve pyproject.toml, then write the Space's requirements.txt from the same lock
lock: $(UV)
	$(UV) lock
	$(PY) scripts/space_requirements.py --write

# Debian's chromium for the real-browser tests (Playwright drives it; no browser download)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "could not install chromium: browser tests will be skipped"; \
	  else echo "chromium not found and not root: browser tests will be skipped (sudo apt-get install chromium)"; fi; }

# Debian's epubcheck (Java) checks every read-along EPUB 3 the tests export, and Debian's espeak-ng says German for the
# test of checks in other languages (the bundled voices are English); the product needs neither
tools:
	@test -f /usr/share/java/epubcheck.jar || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq epubcheck >/dev/null) || echo "could not install epubcheck: EPUB checks will be skipped"; \
	  else echo "epubcheck not found and not root: EPUB checks will be skipped (sudo apt-get install epubcheck)"; fi; }
	@command -v espeak-ng >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null) || echo "could not install espeak-ng: the German check test will be skipped"; \
	  else echo "espeak-ng not found and not root: the German check test will be skipped (sudo apt-get install espeak-ng)"; fi; }

run: install
	$(PY) launch.py

# the suite on every core of the project machine (2): each worker takes whole test files, so a file's shared
# fixtures (a finished training run, a loaded model) are made once
TEST_WORKERS ?= 2
test: install browser tools
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not space"
	$(MAKE) test-space

# The Space's way of installing (a new virtualenv from requirements.txt, no `pip install -e .`) serves and speaks
test-space: install
	$(PY) -m pytest -q -m space

lint: install
	$(PY) -m ruff check studio tests
	$(PY) -m mypy

SHARED_BOOKS := ../shared/fixtures/books

bench: install
	$(PY) -m studio bench --repeats 5 --warmup 1 --output bench-results.json --csv bench-results.csv
	$(PY) -m studio.bench.first_audio --repeats 7 --warmup 1 --output bench-first-audio.json
	@if [ -f $(SHARED_BOOKS)/alice-in-wonderland.epub ]; then \
	  $(PY) -m studio.bench.book $(SHARED_BOOKS)/alice-in-wonderland.epub --chapter 5 --chars 3000 --output bench-book.json; \
	  $(PY) -m studio.bench.false_flags $(SHARED_BOOKS)/alice-in-wonderland.epub $(SHARED_BOOKS)/frankenstein.epub \
	    $(SHARED_BOOKS)/moby-dick.epub --chars 15000 --output bench-false-flags.json; \
	else echo "no ../shared/fixtures/books here: skipping the audiobook benchmark"; fi
	@if [ -f $(SHARED_BOOKS)/moby-dick.epub ]; then \
	  $(PY) -m studio.ui.book_scale $(SHARED_BOOKS)/moby-dick.epub --output bench-book-scale.json; \
	  $(PY) -m studio.bench.memory $(SHARED_BOOKS)/moby-dick.epub --output bench-memory.json; \
	else echo "no ../shared/fixtures/books here: skipping the book-scale benchmark"; fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
