#!/usr/bin/env bash
# Installs the pinned third-party clients for compat/run.sh: the Plex
# clients (requirements.txt) into a virtualenv, and openid-client (RFC 8628;
# node/package-lock.json) with `npm ci` into compat/node/node_modules.
#
# usage: compat/install.sh
# env:   COMPAT_VENV=DIR   where to create it (default: target/compat-venv in
#                          the repository root, which git ignores)
# Needs python3 (3.9 or newer, with the venv module), Node.js 20 or newer
# with npm, and access to PyPI and the npm registry.
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
(cd "$HERE/node" && npm ci --no-audit --no-fund --silent)
echo "openid-client $(node -p "require('$HERE/node/node_modules/openid-client/package.json').version")"
