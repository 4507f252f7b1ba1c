# Two commands do all set-up: `make run` (the workflow on simulated data) and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
CORES   ?= all
RUN     ?= default
SNAKEMAKE := $(VENV)/bin/snakemake --cores $(CORES)

.PHONY: run test test-slow test-slurm bench lint fmt lock clean-venv

$(STAMP): requirements.lock
	test -x $(PY) || python3.11 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==26.3
	$(PY) -m pip install --quiet --requirement requirements.lock
	touch $(STAMP)

# The report is a make target: rebuilt when the run changed (the manifest is rewritten whenever any
# output is) or a caption did; a second make call sees the manifest the workflow just wrote.
REPORT := results/$(RUN)/report.html
run: $(STAMP)
	$(SNAKEMAKE) --config run=$(RUN)
	$(MAKE) --no-print-directory $(REPORT)

$(REPORT): results/$(RUN)/manifest.json $(wildcard report/*.rst)
	$(SNAKEMAKE) --config run=$(RUN) --report $@

test: $(STAMP)
	$(PY) -m pytest -m "not slow and not slurm" -q

test-slow: $(STAMP)
	$(PY) -m pytest -m "slow and not slurm" -q

test-slurm: $(STAMP)
	$(PY) -m pytest -m slurm -q

bench: $(STAMP)
	$(PY) bench/run.py

lint: $(STAMP)
	$(VENV)/bin/snakefmt --check .
	$(SNAKEMAKE) --lint

fmt: $(STAMP)
	$(VENV)/bin/snakefmt .

lock: $(STAMP)
	$(PY) -m pip install --quiet --requirement requirements.in
	( echo '# Exact pins of every package (Python 3.11). Regenerate with `make lock` after editing requirements.in.'; \
	  $(PY) -m pip freeze --exclude-editable ) > requirements.lock
	touch $(STAMP)
