# One image for the web server and every Celery worker (docker-compose.yml runs it four ways).
#
# Build inputs beside the code, both empty unless you fill them (their contents are git-ignored):
#   docker/ca-certificates/*.crt  extra CA certificates, behind a proxy that re-signs TLS
#   docker/wheels/*.whl           wheels taken before the package index (e.g. a CPU build of PyTorch)
# BASE_IMAGE is any Debian bookworm image: `make stack-test` builds one with debootstrap, no registry needed.
#
# PyTorch: the default index's Linux wheel of the version pinned in pyproject.toml is built with CUDA,
# which the GPU worker needs. For a much smaller image on hosts without a GPU, take the CPU build:
#   docker compose build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# or pick a CUDA build to match the host's driver with https://download.pytorch.org/whl/cuXXX.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

ARG TORCH_INDEX_URL=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PATH=/opt/venv/bin:$PATH \
    VAR_DIR=/app/var \
    ARTIFACT_ROOT=/var/lib/sentiment/artifacts \
    IMPORT_UPLOAD_DIR=/var/lib/sentiment/uploads \
    HF_HOME=/var/lib/sentiment/huggingface

# Bookworm's Python is 3.11; pip gets the system CA bundle, extra certificates included.
COPY docker/ca-certificates/ /usr/local/share/ca-certificates/
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && update-ca-certificates \
    && python3 -m venv /opt/venv \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /home/app app
WORKDIR /app

# PyTorch first, in its own layer: it is by far the largest download and changes least often.
COPY pyproject.toml ./
RUN --mount=type=bind,source=docker/wheels,target=/wheels \
    torch_requirement="$(grep -o 'torch==[0-9][0-9a-z.]*' pyproject.toml)" \
    && if [ -n "$TORCH_INDEX_URL" ]; then \
         pip install --find-links /wheels --index-url "$TORCH_INDEX_URL" "$torch_requirement"; \
       else \
         pip install --find-links /wheels "$torch_requirement"; \
       fi

# The other dependencies, from pyproject.toml alone, so a change to the code does not reinstall them.
RUN --mount=type=bind,source=docker/wheels,target=/wheels \
    mkdir -p /tmp/dependencies && cp pyproject.toml /tmp/dependencies/ \
    && pip install --find-links /wheels /tmp/dependencies \
    && pip uninstall --yes sentimentsite && rm -rf /tmp/dependencies

COPY manage.py gunicorn.conf.py ./
COPY sentimentsite ./sentimentsite
COPY apps ./apps
COPY workers ./workers
COPY templates ./templates
# Installed in place: settings find the templates and static files beside the code in /app.
RUN pip install --no-deps --editable .

# Settings refuse to load without SECRET_KEY when DEBUG is off; collectstatic needs no real one. Pages
# with DEBUG=0 serve these files (whitenoise) from the manifest written here.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && mkdir -p "$ARTIFACT_ROOT" "$IMPORT_UPLOAD_DIR" "$HF_HOME" \
    && chown -R app:app /app/var /var/lib/sentiment

USER app
EXPOSE 8000
CMD ["gunicorn", "--config", "gunicorn.conf.py", "sentimentsite.wsgi"]
