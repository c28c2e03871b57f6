// The page that turns on a second factor: log in, enrol an authenticator app (its QR code,
// or its key typed), prove it with a code, and see the recovery codes once. The token stays in
// this page's memory; nothing is stored in the browser.
"use strict";
(function () {
  var status = document.getElementById("status");
  var token = null;
  function say(text) { status.textContent = text; }
  function call(method, path, body) {
    var headers = { "Content-Type": "application/json" };
    if (token) { headers.Authorization = "Bearer " + token; }
    return fetch(path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      referrerPolicy: "no-referrer",
    }).then(function (response) {
      return response.json().then(function (json) { return { ok: response.ok, json: json }; },
        function () { return { ok: response.ok, json: {} }; });
    });
  }
  function failed(result) {
    var error = result.json && result.json.error;
    say(error && error.message ? error.message : "Something went wrong; try again.");
  }
  function unreachable() { say("The service cannot be reached; try again."); }
  var login = document.getElementById("login");
  login.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = { email: document.getElementById("email").value,
                 password: document.getElementById("password").value };
    call("POST", "/users/login", body).then(function (result) {
      if (!result.ok) { failed(result); return; }
      if (result.json.mfaRequired) {
        say("This account has a second factor already.");
        return;
      }
      token = result.json.token;
      login.hidden = true;
      return call("POST", "/users/me/mfa/totp").then(function (enrolled) {
        if (!enrolled.ok) { failed(enrolled); return; }
        // The QR code is an SVG document the service made: parsed as SVG, never as HTML.
        var svg = new DOMParser().parseFromString(enrolled.json.qrSvg, "image/svg+xml");
        document.getElementById("qr").appendChild(document.importNode(svg.documentElement, true));
        document.getElementById("secret").textContent = enrolled.json.secret;
        document.getElementById("enrol").hidden = false;
        say("Scan the code with your authenticator app, then type the code it shows.");
      });
    }, unreachable);
  });
  var verify = document.getElementById("verify");
  verify.addEventListener("submit", function (event) {
    event.preventDefault();
    var code = document.getElementById("code").value.replace(/\s/g, "");
    call("POST", "/users/me/mfa/totp/verify", { code: code }).then(function (result) {
      if (!result.ok) { failed(result); return; }
      document.getElementById("enrol").hidden = true;
      var list = document.getElementById("codes");
      result.json.recoveryCodes.forEach(function (recovery) {
        var item = document.createElement("li");
        item.textContent = recovery;
        list.appendChild(item);
      });
      document.getElementById("done").hidden = false;
      say("The second factor is on: from now on, logging in asks for the app's code.");
    }, unreachable);
  });
})();
