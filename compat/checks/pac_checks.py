#!/usr/bin/env python3
"""plex-api-client (the generated Python SDK, module `plex_api_client`) against pinlink.

usage: pac_checks.py BASE_URL USERNAME PASSWORD

Version 0.30.0 is the last one with the plex.tv pin operations
(plex.get_pin, plex.get_token_by_pin_id). The SDK's own server_url is for
Plex Media Server operations only; every plex.tv operation has a per-call
server_url whose default is https://plex.tv/api/v2, so each call here passes
BASE_URL/api/v2. The SDK has no operation for approving a pin
(PUT /api/v2/pins/link): that step is a plain HTTP request from common.py.

The SDK speaks JSON and validates what it receives against its models, so a
pass also means pinlink's JSON has every field the SDK insists on.
"""
import httpx

from common import Checks, approve_pin, ssl_context, arguments, client_id, expect_error, is_loopback, require

BASE, USERNAME, PASSWORD = arguments()
API_V2 = BASE + "/api/v2"

from plex_api_client import PlexAPI  # noqa: E402
from plex_api_client.models import errors, operations  # noqa: E402

PRODUCT = "pinlink compat plex-api-client"
CLIENT = client_id("pac")


def refuse_other_hosts(request):
    if not is_loopback(request.url.host):
        raise RuntimeError(f"the SDK tried to reach {request.url}")


# One HTTP client for every call: no proxies, and never anything but loopback.
HTTP = httpx.Client(
    trust_env=False,
    verify=ssl_context(),
    timeout=10,
    event_hooks={"request": [refuse_other_hosts]},
)


def sdk(token=None):
    # No retries: a 429 or 5xx should fail the check now, not after back-off.
    return PlexAPI(access_token=token, server_url=BASE, client=HTTP, retry_config=None,
                   timeout_ms=10_000)


def new_pin(strong, client=CLIENT):
    return sdk().plex.get_pin(
        request=operations.GetPinRequest(client_id=client, strong=strong, client_name=PRODUCT,
                                         client_version="0.30.0", platform="Python"),
        server_url=API_V2)


def poll_pin(pin_id, client=CLIENT):
    return sdk().plex.get_token_by_pin_id(
        request=operations.GetTokenByPinIDRequest(pin_id=pin_id, client_id=client,
                                                  client_name=PRODUCT),
        server_url=API_V2)


def sign_in(password):
    return sdk().authentication.post_users_sign_in_data(
        request=operations.PostUsersSignInDataRequest(
            client_id=CLIENT, client_name=PRODUCT,
            request_body=operations.PostUsersSignInDataRequestBody(login=USERNAME, password=password)),
        server_url=API_V2)


def whoami(token):
    return sdk(token).authentication.get_token_details(server_url=API_V2)


def status_of(error):
    return error.raw_response.status_code


checks = Checks("plex-api-client")
state = checks.state


# --- the account -----------------------------------------------------------
@checks.add("signin")
def _():
    response = sign_in(PASSWORD)
    require(response.status_code == 201, f"status {response.status_code}, expected 201")
    user = response.user_plex_account
    require(user is not None and user.auth_token, "no user or no authToken in the answer")
    require(USERNAME in (user.username, user.email),
            f"signed in as {user.username!r} <{user.email}>, not {USERNAME!r}")
    state.update(account_token=user.auth_token, account_id=user.id)


@checks.add("signin-wrong-password-401")
def _():
    error = expect_error(lambda: sign_in(PASSWORD + "-not"), errors.PostUsersSignInDataUnauthorized,
                         "sign-in with a wrong password")
    require(status_of(error) == 401, f"status {status_of(error)}")


@checks.add("token-details")
def _():
    token, account_id = checks.need("account_token", "account_id")
    response = whoami(token)  # GET /api/v2/user
    user = response.user_plex_account
    require(response.status_code == 200 and user is not None, f"status {response.status_code}")
    require(user.id == account_id, f"the token's account is {user.id}, sign-in said {account_id}")
    require(user.auth_token == token, "GET /api/v2/user does not return the caller's own token")


@checks.add("token-details-bad-token-401")
def _():
    error = expect_error(lambda: whoami("no-such-token-0000"), errors.GetTokenDetailsUnauthorized,
                         "GET /api/v2/user with a made-up token")
    require(status_of(error) == 401, f"status {status_of(error)}")


# --- pins ------------------------------------------------------------------
@checks.add("get-pin-4-char")
def _():
    response = new_pin(strong=False)
    pin = response.auth_pin_container
    require(response.status_code == 201 and pin is not None, f"status {response.status_code}")
    require(len(pin.code) == 4, f"code {pin.code!r} is not 4 characters")
    require(pin.client_identifier == CLIENT, f"clientIdentifier {pin.client_identifier!r}")
    require(pin.product == PRODUCT, f"product {pin.product!r}, expected {PRODUCT!r}")
    require(pin.auth_token is None, f"a new pin already has authToken {pin.auth_token!r}")
    require(pin.expires_at > pin.created_at, "expiresAt is not after createdAt")
    state["pin"] = pin


@checks.add("get-pin-strong")
def _():
    response = new_pin(strong=True)
    pin = response.auth_pin_container
    require(response.status_code == 201 and pin is not None, f"status {response.status_code}")
    require(len(pin.code) == 25, f"strong code {pin.code!r} is not 25 characters")
    require(pin.client_identifier == CLIENT, f"clientIdentifier {pin.client_identifier!r}")
    state["strong_pin"] = pin


@checks.add("get-pin-missing-client-id-400")
def _():
    # client_id is required by the SDK's model; an empty string is as absent as it gets.
    error = expect_error(lambda: new_pin(strong=False, client=""), errors.GetPinBadRequest,
                         "POST /api/v2/pins with an empty X-Plex-Client-Identifier")
    require(status_of(error) == 400, f"status {status_of(error)}")
    reported = [(e.code, e.message) for e in error.data.errors or []]
    require(reported[:1] == [(1000, "X-Plex-Client-Identifier is missing")], f"errors {reported}")


@checks.add("get-token-before-approval")
def _():
    pin = checks.need("pin")
    response = poll_pin(pin.id)
    polled = response.auth_pin_container
    require(response.status_code == 200 and polled is not None, f"status {response.status_code}")
    require((polled.id, polled.code) == (pin.id, pin.code),
            f"polled pin {polled.id}/{polled.code}, created {pin.id}/{pin.code}")
    require(not polled.auth_token, f"authToken {polled.auth_token!r} before approval")


@checks.add("approve-pin-over-http")
def _():
    pin, token = checks.need("pin", "account_token")
    approve_pin(BASE, token, pin.code)
    state["approved"] = True


@checks.add("get-token-after-approval")
def _():
    pin, _approved = checks.need("pin", "approved")
    polled = poll_pin(pin.id).auth_pin_container
    require(polled is not None and polled.auth_token, "no authToken after approval")
    state["pin_token"] = polled.auth_token


@checks.add("pin-token-is-the-account")
def _():
    token, account_id, account_token = checks.need("pin_token", "account_id", "account_token")
    require(token != account_token, "the pin delivered the account's own sign-in token")
    user = whoami(token).user_plex_account
    require(user is not None and user.id == account_id,
            f"the pin's token belongs to account {user and user.id}, not {account_id}")


@checks.add("other-pin-still-unapproved")
def _():
    strong, _approved = checks.need("strong_pin", "approved")
    polled = poll_pin(strong.id).auth_pin_container
    require(polled is not None and not polled.auth_token,
            "approving one pin gave a token to another pin of the same client")


@checks.add("get-token-other-client-id-404")
def _():
    pin, _approved = checks.need("pin", "approved")
    error = expect_error(lambda: poll_pin(pin.id, client=client_id("pac-intruder")),
                         errors.GetTokenByPinIDResponseBody,
                         "GET /api/v2/pins/{id} from another client identifier")
    require(status_of(error) == 404, f"status {status_of(error)}")


@checks.add("get-token-unknown-pin-404")
def _():
    error = expect_error(lambda: poll_pin(918273645546372), errors.GetTokenByPinIDResponseBody,
                         "GET /api/v2/pins/{id} for an unknown id")
    require(status_of(error) == 404, f"status {status_of(error)}")
    reported = [e.code for e in error.data.errors or []]
    require(reported[:1] == [1020], f"error codes {reported}, expected [1020]")


if __name__ == "__main__":
    checks.run()
