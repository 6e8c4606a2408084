#!/usr/bin/env python3
"""python-plexapi (PyPI `PlexAPI`) against pinlink.

usage: plexapi_checks.py BASE_URL USERNAME PASSWORD

plexapi is used as shipped. It writes plex.tv into its URLs (class constants
such as MyPlexAccount.SIGNIN and MyPlexPinLogin.PINS, and literal strings like
the one in MyPlexDevice.delete), but every plexapi object takes a
requests.Session. The session built here routes https://plex.tv/... to
BASE_URL, passes BASE_URL itself through, and refuses every other address, so
nothing reaches the real plex.tv and no plexapi code is patched.

plexapi speaks XML: sign-in, the account, pins and /devices.xml.
"""
import threading
import time
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter, HTTPAdapter

from common import CA_BUNDLE, PLEX_TV, Checks, arguments, client_id, expect_error, require

BASE, USERNAME, PASSWORD = arguments()

import plexapi  # noqa: E402  (after the argument check: importing plexapi reads its config)
from plexapi.exceptions import BadRequest, NotFound, Unauthorized  # noqa: E402
from plexapi.myplex import MyPlexAccount, MyPlexJWTLogin, MyPlexPinLogin  # noqa: E402

# plexapi's default client identifier comes from this machine's MAC address;
# give this run its own, for the account-level calls (sign-in, link, devices).
plexapi.BASE_HEADERS["X-Plex-Client-Identifier"] = client_id("plexapi")
PRODUCT = "pinlink compat plexapi"
TIMEOUT = 10


# plexapi's JWT login hard-codes this host for /api/v2/auth/* and JWT pins.
CLIENTS_PLEX_TV = "https://clients.plex.tv"


class ToBase(HTTPAdapter):
    """Sends a request plexapi addressed to `host`/... to BASE_URL/... instead."""

    def __init__(self, host):
        super().__init__()
        self.host = host

    def send(self, request, **kwargs):
        request.url = BASE + request.url[len(self.host):]
        return super().send(request, **kwargs)


class Refuse(BaseAdapter):
    def send(self, request, **kwargs):
        raise RuntimeError(f"plexapi tried to reach {request.url}, which is neither {BASE} nor plex.tv")

    def close(self):
        pass


def loopback_session():
    session = requests.Session()
    session.trust_env = False  # no proxies, no .netrc
    session.verify = CA_BUNDLE or True
    # requests picks the adapter with the longest matching prefix.
    session.mount("http://", Refuse())
    session.mount("https://", Refuse())
    session.mount(BASE + "/", HTTPAdapter())
    session.mount(PLEX_TV + "/", ToBase(PLEX_TV))
    session.mount(CLIENTS_PLEX_TV + "/", ToBase(CLIENTS_PLEX_TV))
    return session


SESSION = loopback_session()
checks = Checks("plexapi")
state = checks.state


def sign_in(**kwargs):
    return MyPlexAccount(session=SESSION, timeout=TIMEOUT, **kwargs)


def new_pin_login(client, oauth=False):
    """A MyPlexPinLogin that presents itself as client identifier `client`
    (None sends no X-Plex-Client-Identifier at all: requests drops headers set to None)."""
    headers = {"X-Plex-Client-Identifier": client, "X-Plex-Product": PRODUCT}
    return MyPlexPinLogin(session=SESSION, requestTimeout=TIMEOUT, headers=headers, oauth=oauth)


def strong_code(pin_login):
    """With oauth=True plexapi hides the code inside its app.plex.tv auth URL."""
    fragment = urlsplit(pin_login.oauthUrl()).fragment  # "!?clientID=...&code=..."
    return parse_qs(fragment.split("?", 1)[1])["code"][0]


def http_status(error):
    """plexapi puts the status first in its messages: "(404) not_found ..."."""
    return str(error).split(")", 1)[0].lstrip("(")


# --- the account -----------------------------------------------------------
@checks.add("signin")
def _():
    account = sign_in(username=USERNAME, password=PASSWORD)
    require(account.authToken, "signed in, but no authToken")
    require(USERNAME in (account.username, account.email),
            f"signed in as {account.username!r} <{account.email}>, not {USERNAME!r}")
    require(isinstance(account.id, int) and account.id > 0, f"account id {account.id!r}")
    state["account"] = account


@checks.add("signin-wrong-password-401")
def _():
    expect_error(lambda: sign_in(username=USERNAME, password=PASSWORD + "-not"),
                 Unauthorized, "sign-in with a wrong password")


@checks.add("account-from-token")
def _():
    account = checks.need("account")
    again = sign_in(token=account.authToken)  # GET /api/v2/user
    require((again.id, again.username, again.uuid) == (account.id, account.username, account.uuid),
            f"the token's account is {again.id}/{again.username!r}, sign-in said "
            f"{account.id}/{account.username!r}")


@checks.add("account-bad-token-401")
def _():
    expect_error(lambda: sign_in(token="no-such-token-0000"), Unauthorized,
                 "GET /api/v2/user with a made-up token")


# --- what apps call right after a login ------------------------------------
@checks.add("ping-is-true")
def _():
    account = checks.need("account")
    require(account.ping() is True, "account.ping() did not return True")  # GET /api/v2/ping


@checks.add("resources-empty-list")
def _():
    account = checks.need("account")
    resources = account.resources()  # GET /api/v2/resources?includeHttps=1&includeRelay=1
    require(resources == [], f"resources() returned {resources!r} for an account without servers")


@checks.add("resources-list-a-server-that-published-itself")
def _():
    """A Plex Media Server links itself with a pin and publishes its
    connections (as a PMS does); plexapi's resources() must read it."""
    account = checks.need("account")
    pms_id = client_id("plexapi-pms")
    headers = {"X-Plex-Client-Identifier": pms_id, "X-Plex-Product": "Plex Media Server",
               "X-Plex-Provides": "server", "X-Plex-Device-Name": "Compat PMS", "Accept": "application/json"}
    pin = SESSION.post(BASE + "/api/v2/pins", headers=headers, timeout=TIMEOUT).json()
    account.link(pin["code"])
    polled = SESSION.get(f"{BASE}/api/v2/pins/{pin['id']}", headers=headers, timeout=TIMEOUT).json()
    server_token = polled["authToken"]
    require(server_token, "the server's pin gave no token")
    published = SESSION.put(f"{BASE}/devices/{pms_id}", headers={**headers, "X-Plex-Token": server_token},
                            params=[("Connection[][uri]", "http://192.168.7.7:32400")], timeout=TIMEOUT)
    require(published.status_code == 200, f"PUT /devices/{{id}}: {published.status_code} {published.text}")
    resources = account.resources()
    names = [r.name for r in resources]
    require(names == ["Compat PMS"], f"resources() returned {names!r}")
    resource = resources[0]
    require("server" in resource.provides, f"provides {resource.provides!r}")
    require(resource.accessToken == server_token, "the resource's accessToken is not the server's token")
    uris = [c.uri for c in resource.connections]
    require(uris == ["http://192.168.7.7:32400"], f"connections {uris!r}")
    require(resource.connections[0].local is True, "a 192.168 address is local")


@checks.add("users-empty-list")
def _():
    account = checks.need("account")
    users = account.users()  # GET /api/users/ (v1 XML)
    require(users == [], f"users() returned {users!r} for an account without friends")


@checks.add("webhooks-empty-list")
def _():
    account = checks.need("account")
    hooks = account.webhooks()  # GET /api/v2/user/webhooks
    require(hooks == [], f"webhooks() returned {hooks!r}")


# --- the Plex JWT: register a key with the account token, then refresh -----
@checks.add("jwt-register-device-and-refresh")
def _():
    account = checks.need("account")
    login = MyPlexJWTLogin(session=SESSION, requestTimeout=TIMEOUT, token=account.authToken,
                           scopes=["username", "email", "friendly_name"])
    login.generateKeypair()  # in memory
    login.registerDevice()  # POST /api/v2/auth/jwk
    token = login.refreshJWT()  # nonce, token, keys; raises unless verifyJWT() passes
    require(login.verifyJWT() is True, "verifyJWT() is not True for the fresh JWT")
    claims = login.decodedJWT  # PyJWT, against /api/v2/auth/keys
    require(claims["user"]["username"] == account.username,
            f"the JWT's user is {claims['user']!r}, not {account.username!r}")
    require(claims["thumbprint"] == login._keyID, "the JWT's thumbprint is not the device key's kid")
    state["jwt_login"] = login
    state["jwt"] = token


@checks.add("jwt-is-a-token")
def _():
    account = checks.need("account")
    token = checks.need("jwt")
    by_jwt = sign_in(token=token)  # GET /api/v2/user with the JWT
    require(by_jwt.id == account.id, f"the JWT belongs to account {by_jwt.id}, not {account.id}")
    require(by_jwt.authToken == token, "/api/v2/user did not answer the JWT as authToken")
    require(by_jwt.ping() is True, "ping() with the JWT is not True")


@checks.add("jwt-refresh-gives-a-new-jwt")
def _():
    login = checks.need("jwt_login")
    first = checks.need("jwt")
    second = login.refreshJWT()
    require(second != first, "refreshing gave the same JWT again")
    require(login.verifyJWT() is True, "verifyJWT() is not True after the refresh")


def jwt_pin_login(oauth):
    """MyPlexJWTLogin's own flow: a pin with the device's JWK, polled with one
    device JWT (one nonce) until the account approves the code; the Plex JWT
    it gets must verify (PyJWT, against /auth/keys), be a token of the
    account, and refresh with the device's key alone."""
    account = checks.need("account")
    headers = {"X-Plex-Client-Identifier": client_id("plexapi-jwt-pin"), "X-Plex-Product": PRODUCT}
    login = MyPlexJWTLogin(session=SESSION, requestTimeout=TIMEOUT, headers=headers, oauth=oauth,
                           scopes=["username", "email"])
    login.generateKeypair()
    delivered, link_errors = [], []
    login.run(callback=delivered.append, timeout=30)  # creates the pin, then polls
    code = strong_code(login) if oauth else login.pin
    require(len(code) == (25 if oauth else 4), f"code {code!r}")

    def approve_later():
        time.sleep(2.5)
        try:
            account.link(code)
        except Exception as error:  # reported below
            link_errors.append(error)

    approver = threading.Thread(target=approve_later, daemon=True)
    approver.start()
    succeeded = login.waitForLogin()
    approver.join(10)
    require(not link_errors, f"link() failed: {link_errors and link_errors[0]}")
    require(succeeded is True, f"waitForLogin() returned {succeeded} (expired={login.expired})")
    require(delivered == [login.jwtToken], "the callback did not get the Plex JWT")
    require(login.verifyJWT() is True, "verifyJWT() is not True for the pin's Plex JWT")
    owner = sign_in(token=login.jwtToken)
    require(owner.id == account.id, f"the JWT belongs to account {owner.id}, not {account.id}")
    first = login.jwtToken
    require(login.refreshJWT() != first, "refreshing with the device key gave the same JWT")


@checks.add("jwt-pin-4-char")
def _():
    jwt_pin_login(oauth=False)


@checks.add("jwt-pin-oauth-strong")
def _():
    jwt_pin_login(oauth=True)


# --- pins ------------------------------------------------------------------
@checks.add("pin-4-char-code")
def _():
    client = client_id("plexapi-pin")
    pin_login = new_pin_login(client)
    code = pin_login.pin  # POST /api/v2/pins
    require(isinstance(code, str) and len(code) == 4 and code.isalnum(),
            f"code {code!r} is not 4 letters or digits")
    require(str(pin_login._id).isdigit(), f"pin id {pin_login._id!r} is not a number")
    state.update(pin_login=pin_login, pin_client=client, pin_code=code)


@checks.add("pin-strong-25-char-code")
def _():
    pin_login = new_pin_login(client_id("plexapi-strong"), oauth=True)  # ?strong=True
    code = strong_code(pin_login)
    require(len(code) == 25 and code.isalnum(), f"strong code {code!r} is not 25 letters or digits")
    require(str(pin_login._id).isdigit(), f"pin id {pin_login._id!r} is not a number")


@checks.add("pin-without-client-id-400")
def _():
    error = expect_error(lambda: new_pin_login(None).pin, BadRequest,
                         "POST /api/v2/pins without X-Plex-Client-Identifier")
    require(http_status(error) == "400", f"expected 400: {error}")
    require("1000" in str(error) and "X-Plex-Client-Identifier is missing" in str(error),
            f"expected error 1000 'X-Plex-Client-Identifier is missing': {error}")


@checks.add("pin-not-yet-approved")
def _():
    pin_login = checks.need("pin_login")
    require(pin_login.checkLogin() is False, "checkLogin() is True before anyone approved the pin")
    require(pin_login.expired is False, "checkLogin() failed (plexapi marked the pin expired)")
    require(pin_login.token is None, f"token {pin_login.token!r} before approval")


@checks.add("link-unknown-code-404")
def _():
    account = checks.need("account")
    # The run's only wrong code. pinlink's codes never contain a 0 (people
    # misread it as O), so "0000" cannot belong to anyone.
    error = expect_error(lambda: account.link("0000"), NotFound, "link() with a code nobody has")
    require("1020" in str(error), f"expected error 1020 'Code not found or expired': {error}")


@checks.add("link-approves-pin")
def _():
    account, code = checks.need("account", "pin_code")
    account.link(code)  # PUT /api/v2/pins/link as the account, X-Plex-Product: Plex SSO
    state["linked"] = True


@checks.add("pin-approved-gives-token")
def _():
    pin_login, account, _linked = checks.need("pin_login", "account", "linked")
    require(pin_login.checkLogin() is True, f"checkLogin() is not True (expired={pin_login.expired})")
    require(pin_login.token, "no token after approval")
    require(pin_login.token != account.authToken,
            "the pin delivered the account's own sign-in token, not one for the new device")
    state["pin_token"] = pin_login.token


@checks.add("pin-token-is-the-account")
def _():
    token, account = checks.need("pin_token", "account")
    owner = sign_in(token=token)
    require(owner.id == account.id, f"the pin's token belongs to account {owner.id}, not {account.id}")


@checks.add("pin-other-client-id-404")
def _():
    pin_login, _linked = checks.need("pin_login", "linked")
    intruder = new_pin_login(client_id("plexapi-intruder"))
    intruder._id = pin_login._id  # poll someone else's pin: no new pin is created
    error = expect_error(intruder._checkLogin, BadRequest,
                         "GET /api/v2/pins/{id} from another client identifier")
    require(http_status(error) == "404", f"expected 404: {error}")
    require(intruder.token is None, "another client identifier got the token")


@checks.add("pin-unknown-id-404")
def _():
    nobody = new_pin_login(client_id("plexapi-unknown"))
    nobody._id = "918273645546372"
    error = expect_error(nobody._checkLogin, BadRequest, "GET /api/v2/pins/{id} for an unknown id")
    require(http_status(error) == "404", f"expected 404: {error}")


# --- devices ---------------------------------------------------------------
@checks.add("device-listed-as-the-pin-client")
def _():
    account, client, token = checks.need("account", "pin_client", "pin_token")
    found = [device for device in account.devices() if device.clientIdentifier == client]
    require(len(found) == 1, f"{len(found)} devices with clientIdentifier {client}, expected 1")
    device = found[0]
    # The product is the pin creator's, not link()'s "Plex SSO".
    require(device.product == PRODUCT, f"device product {device.product!r}, expected {PRODUCT!r}")
    require(device.token == token, "the device's token is not the one the pin delivered")
    require(device.id, "the device has no id")
    require(isinstance(device.createdAt, datetime) and isinstance(device.lastSeenAt, datetime),
            f"createdAt {device.createdAt!r} / lastSeenAt {device.lastSeenAt!r} are not unix times")
    state["device"] = device


@checks.add("device-removed-revokes-token")
def _():
    account, client, token, device = checks.need("account", "pin_client", "pin_token", "device")
    device.delete()  # DELETE /devices/{id}.xml
    expect_error(lambda: sign_in(token=token), Unauthorized, "the removed device's token")
    require(sign_in(token=account.authToken).id == account.id,
            "the account's own token stopped working too")
    left = [d for d in account.devices() if d.clientIdentifier == client]
    require(not left, "the device is still listed after removal")


# --- MyPlexPinLogin as an application uses it -------------------------------
def wait_for_login(oauth):
    """run() polls the pin once a second from plexapi's own thread; the
    account approves the code a moment later; waitForLogin() must return True
    and the callback must receive a token that works."""
    account = checks.need("account")
    pin_login = new_pin_login(client_id("plexapi-run"), oauth=oauth)
    code = strong_code(pin_login) if oauth else pin_login.pin
    require(len(code) == (25 if oauth else 4), f"code {code!r}")

    delivered, link_errors = [], []

    def approve_later():
        time.sleep(2.5)  # let the poller see the pin unapproved first
        try:
            account.link(code)
        except Exception as error:  # reported below
            link_errors.append(error)

    pin_login.run(callback=delivered.append, timeout=30)
    approver = threading.Thread(target=approve_later, daemon=True)
    approver.start()
    succeeded = pin_login.waitForLogin()
    approver.join(10)
    require(not link_errors, f"link() failed: {link_errors and link_errors[0]}")
    require(succeeded is True, f"waitForLogin() returned {succeeded} (expired={pin_login.expired})")
    require(delivered == [pin_login.token], f"callback got {delivered!r}, token is {pin_login.token!r}")
    owner = sign_in(token=pin_login.token)
    require(owner.id == account.id, f"the token belongs to account {owner.id}, not {account.id}")


@checks.add("pinlogin-wait-4-char")
def _():
    wait_for_login(oauth=False)


@checks.add("pinlogin-wait-oauth-strong")
def _():
    wait_for_login(oauth=True)


if __name__ == "__main__":
    checks.run()
