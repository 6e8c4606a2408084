#!/usr/bin/env python3
"""Two-step sign-in with the real Plex clients: python-plexapi's
`MyPlexAccount(username, password, code=...)` and plex-api-client's
`verification_code`, against a pinlink account that has two-step
verification with a known secret (test mode's `totp_secret`).

usage: two_step_checks.py BASE_URL USERNAME PASSWORD TOTP_SECRET

The codes are computed here (RFC 6238: HMAC-SHA1, 6 digits, 30-second
steps), as an authenticator app would. A code is good once, so each
sign-in waits for a step no earlier sign-in of this run used.
"""
import base64
import hashlib
import hmac
import struct
import sys
import time
import urllib.parse

import httpx
import requests
from requests.adapters import BaseAdapter, HTTPAdapter

from common import (PLEX_TV, CA_BUNDLE, Checks, client_id, expect_error, is_loopback, require,
                    ssl_context)

if len(sys.argv) != 5:
    sys.exit("usage: two_step_checks.py BASE_URL USERNAME PASSWORD TOTP_SECRET")
BASE, USERNAME, PASSWORD, SECRET = sys.argv[1:]
_parts = urllib.parse.urlsplit(BASE)
if _parts.scheme not in ("http", "https") or not is_loopback(_parts.hostname):
    sys.exit(f"refusing BASE_URL {BASE!r}: only http(s) on a loopback address")
BASE = BASE.rstrip("/")

import plexapi  # noqa: E402
from plexapi.exceptions import TwoFactorRequired, Unauthorized  # noqa: E402
from plexapi.myplex import MyPlexAccount  # noqa: E402
from plex_api_client import PlexAPI  # noqa: E402
from plex_api_client.models import errors, operations  # noqa: E402

plexapi.BASE_HEADERS["X-Plex-Client-Identifier"] = client_id("two-step")


def totp(at):
    """The code of the 30-second step `at` falls in."""
    key = base64.b32decode(SECRET.upper() + "=" * (-len(SECRET) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


USED_STEPS = set()


def fresh_code():
    """A code of a later step than any this run used (a code is good once):
    this step's, or the next one's (one step of clock skew is allowed), or,
    failing both, this step's once the clock gets there."""
    while True:
        now = int(time.time())
        for at in (now, now + 30):
            if all(at // 30 > used for used in USED_STEPS):
                USED_STEPS.add(at // 30)
                return totp(at)
        time.sleep(0.5)


class ToBase(HTTPAdapter):
    def send(self, request, **kwargs):
        request.url = BASE + request.url[len(PLEX_TV):]
        return super().send(request, **kwargs)


class Refuse(BaseAdapter):
    def send(self, request, **kwargs):
        raise RuntimeError(f"plexapi tried to reach {request.url}")

    def close(self):
        pass


SESSION = requests.Session()
SESSION.trust_env = False
SESSION.verify = CA_BUNDLE or True
SESSION.mount("http://", Refuse())
SESSION.mount("https://", Refuse())
SESSION.mount(BASE + "/", HTTPAdapter())
SESSION.mount(PLEX_TV + "/", ToBase())


def refuse_other_hosts(request):
    if not is_loopback(request.url.host):
        raise RuntimeError(f"the SDK tried to reach {request.url}")


HTTP = httpx.Client(trust_env=False, verify=ssl_context(), timeout=10,
                    event_hooks={"request": [refuse_other_hosts]})


def sdk_sign_in(code=None):
    body = operations.PostUsersSignInDataRequestBody(login=USERNAME, password=PASSWORD,
                                                     verification_code=code)
    return PlexAPI(server_url=BASE, client=HTTP, retry_config=None, timeout_ms=10_000) \
        .authentication.post_users_sign_in_data(
            request=operations.PostUsersSignInDataRequest(
                client_id=client_id("two-step-sdk"), client_name="pinlink compat two-step",
                request_body=body),
            server_url=BASE + "/api/v2")


checks = Checks("two-step")


@checks.add("plexapi-without-code-raises-TwoFactorRequired")
def _():
    error = expect_error(lambda: MyPlexAccount(USERNAME, PASSWORD, session=SESSION, timeout=10),
                         TwoFactorRequired, "sign-in without a code")
    require("verification code" in str(error).lower(), f"message {error}")


@checks.add("plexapi-with-code")
def _():
    account = MyPlexAccount(USERNAME, PASSWORD, code=fresh_code(), session=SESSION, timeout=10)
    require(account.authToken, "no token")
    require(USERNAME in (account.username, account.email), f"signed in as {account.username!r}")


@checks.add("plexapi-wrong-code")
def _():
    error = expect_error(
        lambda: MyPlexAccount(USERNAME, PASSWORD, code="000000" if totp(time.time()) != "000000" else "111111",
                              session=SESSION, timeout=10),
        Unauthorized, "sign-in with a wrong code")
    require("verification code" in str(error).lower(), f"message {error}")


@checks.add("plex-api-client-without-code-401-1029")
def _():
    error = expect_error(lambda: sdk_sign_in(), errors.PostUsersSignInDataUnauthorized,
                         "SDK sign-in without a code")
    require(error.raw_response.status_code == 401, f"status {error.raw_response.status_code}")
    require(error.data.errors and error.data.errors[0].code == 1029,
            f"errors {error.data.errors}")


@checks.add("plex-api-client-with-verification-code")
def _():
    response = sdk_sign_in(fresh_code())
    require(response.status_code == 201, f"status {response.status_code}")
    require(response.user_plex_account and response.user_plex_account.auth_token, "no token")


checks.run()
