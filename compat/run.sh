#!/usr/bin/env bash
# Drives unmodified third-party Plex client libraries against a running
# pinlink and reports what they made of it.
#
# usage: compat/run.sh BASE_URL USERNAME PASSWORD
#   BASE_URL   the server, e.g. http://127.0.0.1:8080 (loopback only)
#   USERNAME   an existing account (username or email) and PASSWORD its password
# env:
#   COMPAT_VENV=DIR        the virtualenv compat/install.sh made
#                          (default: target/compat-venv in the repository root)
#   CLIENTS=a,b            run only these of: plexapi, plex-api-client,
#                          openid-client (needs COMPAT_OAUTH_CLIENT_ID),
#                          openid-client-oidc (also needs the backend's)
#   COMPAT_OAUTH_CLIENT_ID a public client (`pinlink client add`) for the
#                          RFC 8628 device grant checks; without it they
#                          are skipped
#   COMPAT_OAUTH_BACKEND_ID, COMPAT_OAUTH_BACKEND_SECRET
#                          a confidential client (`pinlink client add NAME
#                          --confidential`) for the OpenID Connect, refresh
#                          and introspection checks; without it they are
#                          skipped
#   CLIENT_TIMEOUT=SECS    time allowed per client script (default 180)
#
# Every check prints "PASS client/name" or "FAIL client/name: reason"; the
# last line is "N passed, M failed". Exit status: 0 when everything passed,
# 1 when a check failed or a script crashed, timed out or ran no check,
# 2 on bad usage or when the clients are not installed.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"

if [ $# -ne 3 ]; then
  echo "usage: $0 BASE_URL USERNAME PASSWORD" >&2
  exit 2
fi
BASE_URL="${1%/}" USERNAME="$2" PASSWORD="$3"
VENV="${COMPAT_VENV:-$ROOT/target/compat-venv}"
CLIENTS="${CLIENTS:-plexapi,plex-api-client,openid-client,openid-client-oidc}"
if [ -z "${COMPAT_OAUTH_CLIENT_ID:-}" ] || [ -z "${COMPAT_OAUTH_BACKEND_ID:-}" ]; then
  if [[ ",$CLIENTS," == *",openid-client-oidc,"* ]]; then
    echo "# openid-client-oidc: skipped (set COMPAT_OAUTH_CLIENT_ID, COMPAT_OAUTH_BACKEND_ID and COMPAT_OAUTH_BACKEND_SECRET)"
    CLIENTS="${CLIENTS//openid-client-oidc/}"
  fi
fi
if [ -z "${COMPAT_OAUTH_CLIENT_ID:-}" ] && [[ ",$CLIENTS," == *",openid-client,"* ]]; then
  echo "# openid-client: skipped (set COMPAT_OAUTH_CLIENT_ID to a public client's id)"
  CLIENTS="$(echo ",$CLIENTS," | sed 's/,openid-client,/,/; s/^,//; s/,$//')"
fi
CLIENT_TIMEOUT="${CLIENT_TIMEOUT:-180}"

# The checks sign in with a real password: never send it off this machine.
loopback='^https?://(localhost|127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}|\[::1\])(:[0-9]{1,5})?$'
if ! [[ "$BASE_URL" =~ $loopback ]]; then
  echo "refusing BASE_URL '$1': only http(s)://localhost, 127.x.x.x or [::1] (with an optional port)" >&2
  exit 2
fi
if ! [ -x "$VENV/bin/python" ]; then
  echo "no virtualenv at $VENV: run compat/install.sh first (or set COMPAT_VENV)" >&2
  exit 2
fi
for client in ${CLIENTS//,/ }; do
  case "$client" in
    plexapi | plex-api-client | openid-client | openid-client-oidc) ;;
    *) echo "unknown client '$client' in CLIENTS (known: plexapi, plex-api-client, openid-client, openid-client-oidc)" >&2; exit 2 ;;
  esac
done

# Keep the environment's own settings out of the picture: no proxies, and no
# ~/.config/plexapi/config.ini (plexapi reads that file when it exists).
unset HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy
export PLEXAPI_CONFIG_PATH="$HERE/checks/no-such-plexapi-config.ini"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1

LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
passed=0 failed=0

# run_client NAME PROGRAM SCRIPT: runs one client's checks and adds up its
# results.
run_client() {
  local name="$1" program="$2" script="$3" status ran_pass ran_fail
  case ",$CLIENTS," in *",$name,"*) ;; *) return 0 ;; esac
  echo "--- $name"
  timeout --kill-after=10 "$CLIENT_TIMEOUT" \
    "$program" "$script" "$BASE_URL" "$USERNAME" "$PASSWORD" \
    </dev/null 2>&1 | tee "$LOG" | sed -u -e '/^PASS /b' -e '/^FAIL /b' -e "s/^/# $name: /"
  status="${PIPESTATUS[0]}"
  ran_pass="$(grep -c '^PASS ' "$LOG")"
  ran_fail="$(grep -c '^FAIL ' "$LOG")"
  passed=$((passed + ran_pass))
  failed=$((failed + ran_fail))
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "FAIL $name/script: timed out after ${CLIENT_TIMEOUT}s"
    failed=$((failed + 1))
  elif [ "$status" -ne 0 ] && [ "$ran_fail" -eq 0 ]; then
    echo "FAIL $name/script: exited with status $status without a failing check"
    failed=$((failed + 1))
  elif [ "$status" -eq 0 ] && [ "$ran_pass" -eq 0 ]; then
    echo "FAIL $name/script: ran no check"
    failed=$((failed + 1))
  fi
}

run_client plexapi "$VENV/bin/python" "$HERE/checks/plexapi_checks.py"
run_client plex-api-client "$VENV/bin/python" "$HERE/checks/pac_checks.py"
if [[ ",$CLIENTS," == *",openid-client,"* ]] && ! [ -d "$HERE/node/node_modules/openid-client" ]; then
  echo "no openid-client in $HERE/node/node_modules: run compat/install.sh first" >&2
  exit 2
fi
run_client openid-client node "$HERE/node/device_grant_checks.mjs"
run_client openid-client-oidc node "$HERE/node/backend_token_checks.mjs"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
