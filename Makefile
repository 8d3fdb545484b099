# Studio: `make run` launches the app, `make test` runs the whole suite. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# exactly one ONNX Runtime distribution: onnxruntime-gpu where wheels exist, onnxruntime elsewhere (override: make ORT=cpu)
ORT ?= $(shell $(PYTHON) -c "import platform,sys; print('gpu' if platform.machine().lower() in ('x86_64','amd64') and sys.platform in ('linux','win32') else 'cpu')")
FASTER_WHISPER := faster-whisper==1.2.1
# Qwen3-TTS's package pins transformers 4.57 and the CPU onnxruntime: installed without its pins (its real needs are
# in the train extra; studio/engines/qwen3_compat.py adapts it to transformers 5)
QWEN_TTS := qwen-tts==0.1.1
STAMP := $(VENV)/.installed-$(ORT)

.PHONY: install run test lint bench browser clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip uninstall --quiet --yes onnxruntime onnxruntime-gpu 2>/dev/null || true
	$(PY) -m pip install --quiet -e ".[dev,train,$(ORT)]"
	$(PY) -m pip install --quiet --no-deps "$(FASTER_WHISPER)" "$(QWEN_TTS)"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# Debian's chromium for the real-browser tests (Playwright drives it; no browser download)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "could not install chromium: browser tests will be skipped"; \
	  else echo "chromium not found and not root: browser tests will be skipped (sudo apt-get install chromium)"; fi; }

run: install
	$(PY) launch.py

test: install browser
	$(PY) -m pytest -q

lint: install
	$(PY) -m ruff check studio tests
	$(PY) -m mypy

SHARED_BOOKS := ../shared/fixtures/books

bench: install
	$(PY) -m studio bench --repeats 5 --warmup 1 --output bench-results.json --csv bench-results.csv
	@if [ -f $(SHARED_BOOKS)/alice-in-wonderland.epub ]; then \
	  $(PY) -m studio.bench.book $(SHARED_BOOKS)/alice-in-wonderland.epub --chapter 5 --chars 3000 --output bench-book.json; \
	else echo "no ../shared/fixtures/books here: skipping the audiobook benchmark"; fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
