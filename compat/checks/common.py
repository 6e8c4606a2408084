"""What the client check scripts share: argument handling, PASS/FAIL
reporting, and approving a pin over plain HTTP. Standard library only.

A script registers its checks in order with a `Checks` object and calls
`run()`. Each check prints exactly one line, `PASS client/name` or
`FAIL client/name: reason`, and the script exits 1 if any check failed.
Checks run in the order they were added; later checks take what they need
from earlier ones through `checks.state` and `checks.need(...)`, so one
failure shows up as a clear "needs ..." failure further down rather than as
a confusing crash.
"""
import ipaddress
import os
import ssl
import sys
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

PLEX_TV = "https://plex.tv"

# A private CA to trust, for a pinlink serving https with a test certificate
# (scripts/test's https run); the system's CAs otherwise. Each client is
# given it explicitly: the scripts ignore the environment's own settings.
CA_BUNDLE = os.environ.get("COMPAT_CA_BUNDLE") or None


def ssl_context():
    return ssl.create_default_context(cafile=CA_BUNDLE)


class CheckFailed(Exception):
    """A check's expectation did not hold; the message says what was seen."""


def require(condition, message):
    if not condition:
        raise CheckFailed(message)


def expect_error(call, error_types, what):
    """Call `call()`, which must raise one of `error_types`; return that error."""
    try:
        result = call()
    except error_types as error:
        return error
    except Exception as error:
        raise CheckFailed(f"{what}: expected {_type_names(error_types)}, "
                          f"got {type(error).__name__}: {short(error)}") from error
    raise CheckFailed(f"{what}: expected {_type_names(error_types)}, "
                      f"but it succeeded with {short(repr(result), 120)}")


def _type_names(error_types):
    if isinstance(error_types, tuple):
        return " or ".join(t.__name__ for t in error_types)
    return error_types.__name__


def short(text, limit=240):
    """One line, at most `limit` characters: for failure messages."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


def is_loopback(host):
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def arguments():
    """BASE_URL USERNAME PASSWORD from the command line; BASE_URL must be loopback."""
    if len(sys.argv) != 4:
        sys.exit(f"usage: {Path(sys.argv[0]).name} BASE_URL USERNAME PASSWORD")
    base, username, password = sys.argv[1:]
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("http", "https") or not is_loopback(parts.hostname):
        sys.exit(f"refusing BASE_URL {base!r}: only http(s) on a loopback address")
    return base.rstrip("/"), username, password


def client_id(label):
    """A fresh X-Plex-Client-Identifier, so that every run (and every pin that
    should be a separate device) looks like a separate client to the server."""
    return f"pinlink-compat-{label}-{uuid.uuid4().hex[:12]}"


class Checks:
    def __init__(self, client):
        self.client = client
        self.state = {}
        self._checks = []

    def add(self, name):
        """Decorator: register the function as the next check, called `name`."""
        def register(function):
            self._checks.append((name, function))
            return function
        return register

    def need(self, *keys):
        """Values earlier checks left in `state`; fails this check if one is missing."""
        missing = [key for key in keys if self.state.get(key) is None]
        if missing:
            raise CheckFailed(f"needs {', '.join(missing)} from an earlier check that failed")
        values = [self.state[key] for key in keys]
        return values[0] if len(values) == 1 else values

    def run(self):
        failures = 0
        for name, function in self._checks:
            label = f"{self.client}/{name}"
            try:
                function()
            except CheckFailed as error:
                failures += 1
                print(f"FAIL {label}: {short(error)}", flush=True)
            except Exception as error:  # a crash inside the client library or the check
                failures += 1
                frame = traceback.extract_tb(error.__traceback__)[-1]
                where = f"{Path(frame.filename).name}:{frame.lineno}"
                print(f"FAIL {label}: {type(error).__name__} at {where}: {short(error)}", flush=True)
            else:
                print(f"PASS {label}", flush=True)
        sys.exit(1 if failures else 0)


def http(method, url, headers=None, form=None, timeout=10):
    """A plain HTTP request that ignores proxy settings.
    Returns (status, body text); HTTP errors are returned, not raised."""
    if not is_loopback(urllib.parse.urlsplit(url).hostname):
        raise RuntimeError(f"refusing to send a request to {url}")
    body = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    if body is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ssl_context())
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def approve_pin(base, account_token, code):
    """Approve a pin's code for the account that owns `account_token`, the way
    the plex.tv/link page does: PUT /api/v2/pins/link with the form field `code`."""
    status, body = http(
        "PUT", f"{base}/api/v2/pins/link",
        headers={"X-Plex-Token": account_token,
                 "X-Plex-Client-Identifier": client_id("approver"),
                 "X-Plex-Product": "pinlink compat approver",
                 "Accept": "application/json"},
        form={"code": code})
    require(status in (200, 204), f"PUT /api/v2/pins/link answered {status}: {short(body)}")
