# The two commands: `make run` (the platform on the embedded default) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

HOST ?= 127.0.0.1
PORT ?= 8000
# A local copy of IMDb beside the checkout when there is one, else the Hugging Face hub.
IMDB_SOURCE ?= $(if $(wildcard ../shared/data/imdb),../shared/data/imdb,hf:imdb)
export IMDB_SOURCE

# Tests run against the real services of this machine.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test install services typecheck bench bench-smoke stack-test clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The web server, one Celery worker per queue and Celery beat (retraining schedules), as in production;
# Ctrl-C stops them all. AUTO_PROMOTE is on unless set, so the TF-IDF baseline that bootstrap queues on a
# first start becomes the current model.
run: $(STAMP)
	@export DEBUG=$${DEBUG:-1} AUTO_PROMOTE=$${AUTO_PROMOTE:-1} SITE_URL=http://$(HOST):$(PORT)/; \
	$(PY) manage.py migrate --noinput && \
	$(PY) manage.py bootstrap && \
	{ trap 'kill 0' EXIT INT TERM; \
	  cores=$$(nproc); worker_threads=$${TORCH_THREADS:-$$(( cores > 1 ? cores - 1 : 1 ))}; \
	  TORCH_THREADS=$$worker_threads $(PY) -m celery -A sentimentsite worker -Q gpu --pool solo -n gpu@%h --loglevel INFO & \
	  TORCH_THREADS=$$worker_threads $(PY) -m celery -A sentimentsite worker -Q default --pool solo -n default@%h --loglevel INFO & \
	  $(PY) -m celery -A sentimentsite beat --loglevel INFO & \
	  $(PY) manage.py runserver $(HOST):$(PORT); }

services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && exit 0; sleep 1; done; \
	  echo "PostgreSQL or Redis did not come up on 127.0.0.1" >&2; exit 1

test: $(STAMP) services
	SECRET_KEY=test-only-secret-key DEBUG=0 DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
	  HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false $(PY) -m pytest -v $(PYTEST_ARGS)

# mypy with the Django and DRF plugins over apps/ and workers/ (settings in pyproject.toml). The import
# layering (.importlinter) is checked by the test suite itself (tests/architecture).
typecheck: $(STAMP)
	SECRET_KEY=typecheck-only $(VENV)/bin/mypy apps workers

bench: $(STAMP)
	for script in bench/*.py; do $(PY) $$script || exit 1; done

# Every bench in its --smoke mode (the same steps on little data, no results written), so none rots
# unnoticed. bench/baselines.py and bench/faults.py are not in it yet.
BENCH_SMOKE := $(filter-out bench/baselines.py bench/faults.py,$(wildcard bench/*.py))
bench-smoke: $(STAMP) services
	for script in $(BENCH_SMOKE); do echo "== $$script --smoke"; $(PY) $$script --smoke || exit 1; done

# docker-compose.yml brought up with podman, images built with no registry, a user's journey driven
# through it (stack/test.sh; needs root for apt-get and podman). Caches live in .stack/.
stack-test:
	stack/test.sh

clean:
	rm -rf var .pytest_cache
