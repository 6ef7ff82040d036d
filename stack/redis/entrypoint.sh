#!/bin/sh
# As the official image: redis-server runs as the redis user, on every address, without protected mode
# (the compose network is its protection), with the arguments compose gives it.
set -eu
if [ "$1" = "redis-server" ]; then
    shift
    chown redis:redis /data
    exec setpriv --reuid=redis --regid=redis --init-groups redis-server --bind "* -::*" --protected-mode no "$@"
fi
exec "$@"
