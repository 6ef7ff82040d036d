#!/usr/bin/env bash
# `make stack-test`: build the images with no registry, bring docker-compose.yml up with podman, drive a
# user's journey through the published port (stack/journey.py), and tear everything down, also on failure.
#
# Kept between runs in .stack/ (git-ignored), so a rerun takes minutes: podman's storage (layer cache
# included), the debootstrap base system and podman-compose's own venv.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# STACK_CACHE moves the caches, e.g. to a folder a CI keeps between clean clones.
CACHE=${STACK_CACHE:-$ROOT/.stack}
PROJECT=sentiment-stack
COMPOSE_FILES=(-f docker-compose.yml -f stack/compose.podman.yml)
BASE_IMAGE=localhost/debian:bookworm
mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock -n 9 || { echo "stack-test: another stack-test is running on this checkout" >&2; exit 1; }

began=$SECONDS
phase() { printf '\n== stack-test: %s (at %d s)\n' "$1" $((SECONDS - began)); }
timing() { printf '%s=%d\n' "$1" $((SECONDS - began)) >>"$CACHE/timings"; }
: >"$CACHE/timings"

phase "tools: podman, runc, uidmap, debootstrap, netavark, aardvark-dns, iptables, podman-compose"
missing=()
# netavark and aardvark-dns are only recommended by podman, and --no-install-recommends leaves them out:
# without them podman falls back to CNI, whose networks resolve no container names ("postgres").
# netavark sets up the networks' NAT with iptables, which a minimal machine may lack ("netavark: No such
# file or directory").
for package in podman runc uidmap debootstrap netavark aardvark-dns iptables; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian's podman-compose (1.0.3) cannot expand ${VAR:-} with an empty default; PyPI's can.
if [ ! -x "$CACHE/compose-venv/bin/podman-compose" ]; then
    python3 -m venv "$CACHE/compose-venv"
    "$CACHE/compose-venv/bin/pip" install --quiet 'podman-compose>=1.6,<2'
fi
export CONTAINERS_CONF=$ROOT/stack/containers.conf
export CONTAINERS_STORAGE_CONF=$CACHE/storage.conf
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
graphroot = "$CACHE/storage"
runroot = "/run/$PROJECT-$(printf %s "$CACHE" | md5sum | cut -c1-8)"
EOF
# Without systemd podman cannot schedule health checks and says so on every start; they are run below.
compose() {
    "$CACHE/compose-venv/bin/podman-compose" -p "$PROJECT" "${COMPOSE_FILES[@]}" "$@" 2>&1 | { grep -v "systemd connection" || true; }
}
container() { echo "${PROJECT}_$1_1"; }
timing tools

phase "base image from debootstrap"
if ! podman image exists "$BASE_IMAGE"; then
    if [ ! -d "$CACHE/rootfs" ]; then
        # The mirror this machine's apt uses: no registry is reachable, a Debian mirror is.
        mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
            grep -o -E 'https?://[^ ]+/debian/?( |$)' | head -1 | tr -d ' ' || true)
        rm -rf "$CACHE/rootfs.partial"
        debootstrap --variant=minbase bookworm "$CACHE/rootfs.partial" "${mirror:-http://deb.debian.org/debian}"
        mv "$CACHE/rootfs.partial" "$CACHE/rootfs"
    fi
    tar -C "$CACHE/rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE"
fi
timing base_image

phase "images: the app (Dockerfile), PostgreSQL and Redis from Debian's packages"
# Build inputs: this machine's extra CA certificates (its proxy re-signs TLS) and its local wheels.
cp /usr/local/share/ca-certificates/*.crt docker/ca-certificates/ 2>/dev/null || true
for folder in $(python3 -m pip config list 2>/dev/null | sed -n -E "s/^[a-z:.]*find-links='(.*)'$/\1/p" | sort -u); do
    for wheel in "$folder"/*.whl; do
        [ -e "$wheel" ] && { ln -f "$wheel" docker/wheels/ 2>/dev/null || cp -u "$wheel" docker/wheels/; }
    done
done
podman build --network host --build-arg BASE_IMAGE="$BASE_IMAGE" -t localhost/sentimentsite:latest .
podman build --network host --build-arg BASE_IMAGE="$BASE_IMAGE" -t localhost/sentiment-postgres:15 stack/postgres
podman build --network host --build-arg BASE_IMAGE="$BASE_IMAGE" -t localhost/sentiment-redis:7 stack/redis
timing images

# What compose reads from .env on a user's machine.
SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')
POSTGRES_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
WEB_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The transformer run trains on the CPU here, with the data-loader processes a GPU run starts.
export SECRET_KEY POSTGRES_PASSWORD WEB_PORT WEBHOOK_ALLOWED_NETWORKS="" TRAIN_DATALOADER_WORKERS=2

teardown() {
    status=$?
    if ((status)); then
        for service in migrate web worker-cpu worker-gpu beat postgres redis; do
            echo "---- last log lines of $service"
            podman logs --tail 40 "$(container "$service")" 2>&1 || true
        done
    fi
    phase "tear down"
    compose down -v --timeout 10 >/dev/null 2>&1 || true
    printf '\nstack-test: %s after %d s\n' "$( ((status)) && echo FAILED || echo passed)" $((SECONDS - began))
    exit "$status"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
compose down -v --timeout 10 >/dev/null 2>&1 || true

healthy() {  # No systemd here, so podman runs no health check by itself: run it until it passes.
    local name timeout=$2
    name=$(container "$1")
    for _ in $(seq 1 "$timeout"); do
        podman healthcheck run "$name" >/dev/null 2>&1 && return 0
        sleep 1
    done
    echo "stack-test: $1 was not healthy after $timeout tries" >&2
    return 1
}

# podman 4.3 does not wait for `condition: service_healthy`, so the stack comes up in phases.
phase "PostgreSQL and Redis"
compose up -d --no-build --no-deps postgres redis
healthy postgres 60
healthy redis 60
# Webhooks may reach this host, where the receiver listens, through the compose network's gateway.
gateway=$(podman network inspect "${PROJECT}_default" --format '{{range .Subnets}}{{.Gateway}}{{end}}')
export WEBHOOK_ALLOWED_NETWORKS=$gateway/32

phase "migrate"
compose up -d --no-build --no-deps migrate
migrated=$(podman wait "$(container migrate)")
[ "$migrated" = 0 ] || { echo "stack-test: migrate exited with $migrated" >&2; exit 1; }
timing databases_and_migrate

phase "web, worker-cpu, worker-gpu, beat"
compose up -d --no-build --no-deps web worker-cpu worker-gpu beat
healthy web 120
healthy worker-cpu 60
healthy worker-gpu 60
timing stack_up

phase "an ML admin account and a tiny transformer base model on the shared volume"
# token_urlsafe may begin with "-": the journey takes it as --password=..., never as an option of its own.
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(16))')
podman exec -e ADMIN_USERNAME=stack -e ADMIN_PASSWORD="$password" "$(container web)" \
    python manage.py bootstrap --skip-import --skip-baseline >/dev/null
base_model=/var/lib/sentiment/huggingface/stack-tiny-bert
podman exec -i "$(container worker-gpu)" python - "$base_model" <stack/tiny_bert.py

phase "the journey, through http://127.0.0.1:$WEB_PORT"
python3 stack/journey.py --url "http://127.0.0.1:$WEB_PORT" --username stack --password="$password" \
    --base-model "$base_model" --hook-host "$gateway" --figures "$CACHE/journey.json"
timing journey

phase "figures"
processes=$(podman logs "$(container web)" 2>&1 | grep '"POST /api/predict ' | grep -o '<[0-9]*>' | sort -u | wc -l)
echo "gunicorn processes that answered predictions: $processes"
((processes >= 2)) || { echo "stack-test: predictions were answered by $processes gunicorn process(es), expected several" >&2; exit 1; }
# Celery beat has no health check of its own: it must still be running after the journey, its
# database scheduler started (django-celery-beat's tables come from migrate).
[ "$(podman inspect --format '{{.State.Running}}' "$(container beat)")" = true ] \
    || { echo "stack-test: beat is not running" >&2; exit 1; }
podman logs "$(container beat)" 2>&1 | grep -q "beat: Starting" \
    || { echo "stack-test: beat never started its scheduler" >&2; exit 1; }
echo "beat: running, $(podman logs "$(container beat)" 2>&1 | grep -c 'Sending due task') due task(s) sent"
podman exec -i "$(container web)" python - <stack/web_memory.py
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'sentiment|debian'
timing figures
cat "$CACHE/timings"
