# One image for the web server and every Celery worker (docker-compose.yml runs it four ways).
#
# PyTorch: the default index's Linux wheel of the version pinned in pyproject.toml is built with CUDA,
# which the GPU worker needs. For a much smaller image on hosts without a GPU, take the CPU build:
#   docker compose build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# or pick a CUDA build to match the host's driver with https://download.pytorch.org/whl/cuXXX.
FROM python:3.11-slim

ARG TORCH_INDEX_URL=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VAR_DIR=/app/var \
    ARTIFACT_ROOT=/var/lib/sentiment/artifacts \
    HF_HOME=/var/lib/sentiment/huggingface

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/app app
WORKDIR /app

# PyTorch first, in its own layer: it is by far the largest download and changes least often.
COPY pyproject.toml ./
RUN torch_requirement="$(grep -o 'torch==[0-9][0-9a-z.]*' pyproject.toml)" \
    && if [ -n "$TORCH_INDEX_URL" ]; then \
         pip install --index-url "$TORCH_INDEX_URL" "$torch_requirement"; \
       else \
         pip install "$torch_requirement"; \
       fi

COPY manage.py ./
COPY sentimentsite ./sentimentsite
COPY apps ./apps
COPY workers ./workers
COPY templates ./templates
# Installed in place: settings find the templates and static files beside the code in /app.
RUN pip install --editable .

# Settings refuse to load without SECRET_KEY when DEBUG is off; collectstatic needs no real one.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && mkdir -p "$ARTIFACT_ROOT" "$HF_HOME" \
    && chown -R app:app /app/var /var/lib/sentiment

USER app
EXPOSE 8000
CMD ["gunicorn", "sentimentsite.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
