// Passkeys (WebAuthn) on /account (add one) and /login (sign in with one).
// The forms work as plain forms too: without this script, or without
// WebAuthn in the browser, they post to a page that says so. With it, each
// form runs its ceremony: it posts to `…/start` (the form's action) for the
// options, asks the browser's authenticator, and posts the answer to
// `…/finish`, always as a form with the page's anti-forgery token.
(function () {
  "use strict";

  // base64url <-> ArrayBuffer: WebAuthn speaks bytes, JSON speaks text.
  function toBytes(text) {
    var plain = text.replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(plain), function (c) { return c.charCodeAt(0); }).buffer;
  }
  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var plain = "";
    for (var i = 0; i < bytes.length; i++) { plain += String.fromCharCode(bytes[i]); }
    return btoa(plain).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function post(url, fields) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields)
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error(body.error || "The server refused."); }
        return body;
      });
    });
  }

  function field(form, name) {
    var input = form.querySelector("[name=" + name + "]");
    return input ? input.value : "";
  }

  function say(form, text) {
    var status = form.querySelector("[data-status]");
    if (status) { status.textContent = text; }
  }

  function finishUrl(form) {
    return form.getAttribute("action").replace(/\/start$/, "/finish");
  }

  function problem(error) {
    if (error && error.name === "NotAllowedError") { return "Cancelled, or no passkey was chosen."; }
    return (error && error.message) || "That did not work.";
  }

  // Adding a passkey to the signed-in account.
  function register(form) {
    var csrf = field(form, "csrf");
    say(form, "Follow your browser's prompt…");
    post(form.getAttribute("action"), { csrf: csrf }).then(function (started) {
      var options = started.options.publicKey;
      options.challenge = toBytes(options.challenge);
      options.user.id = toBytes(options.user.id);
      (options.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
      return navigator.credentials.create({ publicKey: options }).then(function (credential) {
        var answer = {
          id: credential.id,
          rawId: toText(credential.rawId),
          type: credential.type,
          response: {
            attestationObject: toText(credential.response.attestationObject),
            clientDataJSON: toText(credential.response.clientDataJSON),
            transports: credential.response.getTransports ? credential.response.getTransports() : []
          },
          extensions: credential.getClientExtensionResults()
        };
        return post(finishUrl(form), {
          csrf: csrf,
          ceremony: started.ceremony,
          name: field(form, "name"),
          credential: JSON.stringify(answer)
        });
      });
    }).then(function () {
      // The page again, with the new passkey in its list.
      window.location.reload();
    }, function (error) {
      say(form, problem(error));
    });
  }

  // Signing in with a passkey alone.
  function signIn(form) {
    var csrf = field(form, "csrf");
    say(form, "Follow your browser's prompt…");
    post(form.getAttribute("action"), { csrf: csrf }).then(function (started) {
      var options = started.options.publicKey;
      options.challenge = toBytes(options.challenge);
      (options.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
      return navigator.credentials.get({ publicKey: options }).then(function (credential) {
        var answer = {
          id: credential.id,
          rawId: toText(credential.rawId),
          type: credential.type,
          response: {
            authenticatorData: toText(credential.response.authenticatorData),
            clientDataJSON: toText(credential.response.clientDataJSON),
            signature: toText(credential.response.signature),
            userHandle: credential.response.userHandle ? toText(credential.response.userHandle) : null
          },
          extensions: credential.getClientExtensionResults()
        };
        return post(finishUrl(form), {
          csrf: csrf,
          ceremony: started.ceremony,
          next: field(form, "next"),
          credential: JSON.stringify(answer)
        });
      });
    }).then(function (done) {
      window.location.assign(done.next || "/");
    }, function (error) {
      say(form, problem(error));
    });
  }

  function wire(id, ceremony) {
    var form = document.getElementById(id);
    if (!form) { return; }
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say(form, "This browser has no passkeys.");
      var button = form.querySelector("button");
      if (button) { button.disabled = true; }
      return;
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      ceremony(form);
    });
  }

  wire("add-passkey", register);
  wire("passkey-sign-in", signIn);
})();
