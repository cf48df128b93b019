#!/bin/sh
# `make lab`: start JupyterLab on chapters/, for a normal user and for root alike.
#
# Before it starts:
# - the git filter that keeps saved outputs out of `git status` is installed in this
#   checkout (tools/notebook_form.py --install-filter; nbstripout), and the server gets
#   tools/jupyter/ on JUPYTER_CONFIG_PATH: after each save it lets git's index see the
#   notebook as the filter does (tools/jupyter/jupyter_server_config.py);
# - JupyterLab's defaults get tools/jupyterlab-overrides.json: no pop-up asking to fetch
#   Jupyter's news, no update checks (nothing is fetched from the web).
#
# It opens no browser: on a headless machine, in a container or on a cloud VM the
# browser is elsewhere. Jupyter prints the URL to open, with its token, on a line of
# its own; from another machine, reach it through an ssh tunnel (README, How to start).
# Root gets --allow-root, which Jupyter needs to start at all; nobody else does.
#
# Settings (environment): JUPYTER, the jupyter executable (default .venv/bin/jupyter);
# PYTHON, the Python that has nbstripout (default: the python beside JUPYTER);
# LAB_PORT, the port (default 8888; Jupyter takes the next free one if it is busy).
# Any arguments are passed on to `jupyter lab`.
set -eu
cd "$(dirname "$0")/.."
JUPYTER="${JUPYTER:-.venv/bin/jupyter}"
PYTHON="${PYTHON:-$(dirname "$JUPYTER")/python}"
LAB_PORT="${LAB_PORT:-8888}"

"$PYTHON" tools/notebook_form.py --install-filter
JUPYTER_CONFIG_PATH="$PWD/tools/jupyter${JUPYTER_CONFIG_PATH:+:$JUPYTER_CONFIG_PATH}"
export JUPYTER_CONFIG_PATH

app_dir="$("$JUPYTER" lab path | sed -n 's/^Application directory: *//p')"
if [ -n "$app_dir" ]; then
    overrides="$app_dir/settings/overrides.d"
    { mkdir -p "$overrides" && cp tools/jupyterlab-overrides.json "$overrides/d2l-course.json"; } ||
        echo "note: could not write $overrides; JupyterLab may ask about its news" >&2
fi

if [ "$(id -u)" -eq 0 ]; then
    set -- --allow-root "$@"
fi
exec "$JUPYTER" lab --no-browser --port="$LAB_PORT" "$@" chapters/
