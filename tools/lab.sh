#!/bin/sh
# `make lab`: start JupyterLab on chapters/, for a normal user and for root alike.
#
# It opens no browser: on a headless machine, in a container or on a cloud VM the
# browser is elsewhere. Jupyter prints the URL to open, with its token, on a line of
# its own; from another machine, reach it through an ssh tunnel (README, Two commands).
# Root gets --allow-root, which Jupyter needs to start at all; nobody else does.
#
# Settings (environment): JUPYTER, the jupyter executable (default .venv/bin/jupyter);
# LAB_PORT, the port (default 8888; Jupyter takes the next free one if it is busy).
# Any arguments are passed on to `jupyter lab`.
set -eu
cd "$(dirname "$0")/.."
JUPYTER="${JUPYTER:-.venv/bin/jupyter}"
LAB_PORT="${LAB_PORT:-8888}"
if [ "$(id -u)" -eq 0 ]; then
    set -- --allow-root "$@"
fi
exec "$JUPYTER" lab --no-browser --port="$LAB_PORT" "$@" chapters/
