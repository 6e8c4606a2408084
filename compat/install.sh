#!/usr/bin/env bash
# Installs the pinned third-party Plex clients (requirements.txt) into a
# virtualenv for compat/run.sh.
#
# usage: compat/install.sh
# env:   COMPAT_VENV=DIR   where to create it (default: target/compat-venv in
#                          the repository root, which git ignores)
# Needs python3 (3.9 or newer, with the venv module) and access to PyPI.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VENV="${COMPAT_VENV:-$ROOT/target/compat-venv}"

python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  --requirement "$HERE/requirements.txt"
"$VENV/bin/python" - <<'PY'
from importlib.metadata import version
for dist in ("PlexAPI", "plex-api-client"):
    print(f"{dist} {version(dist)}")
PY
