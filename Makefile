# Two commands do all set-up: `make run` (the workflow on simulated data) and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
CORES   ?= all
RUN     ?= default
SNAKEMAKE := $(VENV)/bin/snakemake --cores $(CORES)
# A model fit spends most of its time compiling, on one thread: two fits side by side on half the
# cores each finish sooner than one at a time on all (cold make run on 2 cores: 193 s against
# 336 s, bench/results/workflow_cold_threads*.md). MAX_THREADS=4 restores the rules' own threads.
MAX_THREADS ?= $(shell n=$$(nproc); echo $$(( n / 2 > 1 ? n / 2 : 1 )))

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
	$(SNAKEMAKE) --max-threads $(MAX_THREADS) --config run=$(RUN)
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

# Out-of-fold AnnoMI comparison of the transcript detectors (encoder, TF-IDF, rules) beside the
# annotators' ceiling: 3 fold seeds x 5 folds, in parallel processes of one thread; resumable.
.PHONY: bench-transcripts
bench-transcripts: $(STAMP)
	$(PY) bench/bench_transcripts.py --encode-only
	for seed in 0 1 2; do $(PY) bench/bench_transcripts.py --seeds $$seed --no-summary & done; wait
	$(PY) bench/bench_transcripts.py --summarise-only

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
