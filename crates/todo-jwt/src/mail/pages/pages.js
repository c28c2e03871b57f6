// The pages the links in mail open. The token travels in the URL fragment, which browsers
// send to no server (neither in the request nor in Referer); this script reads it, removes it
// from the address bar and history, and POSTs it to the API.
"use strict";
(function () {
  var status = document.getElementById("status");
  var title = document.getElementById("title");
  var token = new URLSearchParams(window.location.hash.slice(1)).get("token");
  history.replaceState(null, "", window.location.pathname);
  function say(text) { status.textContent = text; }
  function post(path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
      referrerPolicy: "no-referrer",
    }).then(function (response) {
      if (response.ok) { return null; }
      return response.json().then(function (envelope) {
        return envelope && envelope.error ? envelope.error : { message: "Error " + response.status };
      }, function () { return { message: "Error " + response.status }; });
    });
  }
  function failed(error) {
    if (error.code === "INVALID_TOKEN") {
      say("This link does not work: it was already used, a newer one was sent, or it expired. " +
          "Ask for a new one.");
    } else {
      say(error.message || "Something went wrong; try again.");
    }
  }
  if (!token && window.location.pathname === "/reset-password") {
    // Opened without a link (from a notice): ask for one.
    title.textContent = "Reset your password";
    say("Give the address of your account; if it has one, a message with a reset link is sent there.");
    var request = document.getElementById("request");
    request.hidden = false;
    request.addEventListener("submit", function (event) {
      event.preventDefault();
      document.getElementById("send").disabled = true;
      post("/users/password-reset", { email: document.getElementById("email").value }).then(function (error) {
        if (error) {
          document.getElementById("send").disabled = false;
          failed(error);
        } else {
          request.hidden = true;
          say("If the address has an account, a message with a reset link is on its way. It works for 30 minutes.");
        }
      }, function () {
        document.getElementById("send").disabled = false;
        say("The service cannot be reached; try again.");
      });
    });
    return;
  }
  if (!token) {
    say("This page needs the link from the message, whole (the part after # included).");
    return;
  }
  // The links that only send their token back: the page's title, what the button does, the
  // route, what success means. Nothing is sent before the button is pressed (a link scanner
  // that opens the page confirms nothing).
  var confirmations = {
    "/verify-email": ["Confirm your email address", "This confirms that this address is yours.",
      "/users/verify-email", "Your email address is confirmed. You can close this page."],
    "/confirm-email": ["Confirm your new email address",
      "This moves your account to the address this link was sent to: you will log in with it.",
      "/users/me/email/confirm",
      "Your account now has this address: log in with it from now on. You can close this page."],
  };
  var confirmation = confirmations[window.location.pathname];
  if (confirmation) {
    title.textContent = confirmation[0];
    say(confirmation[1]);
    var button = document.getElementById("confirm");
    button.hidden = false;
    button.addEventListener("click", function () {
      button.disabled = true;
      post(confirmation[2], { token: token }).then(function (error) {
        button.hidden = true;
        if (error) { failed(error); } else { say(confirmation[3]); }
      }, function () {
        button.disabled = false;
        say("The service cannot be reached; try again.");
      });
    });
    return;
  }
  title.textContent = "Choose a new password";
  say("");
  var form = document.getElementById("reset");
  form.hidden = false;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var password = document.getElementById("password").value;
    if (password !== document.getElementById("again").value) {
      say("The two passwords differ.");
      return;
    }
    document.getElementById("submit").disabled = true;
    post("/users/password-reset/confirm", { token: token, newPassword: password }).then(function (error) {
      if (error) {
        document.getElementById("submit").disabled = false;
        failed(error);
      } else {
        form.hidden = true;
        say("Your password is set, and every session of your account has ended. Log in with the new password.");
      }
    }, function () {
      document.getElementById("submit").disabled = false;
      say("The service cannot be reached; try again.");
    });
  });
})();
