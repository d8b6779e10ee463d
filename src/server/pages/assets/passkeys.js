/*
 * usersvc's passkey pages: the sign-in button and autofill on /login, the
 * creation step of "Add a passkey" on /account. Runs after webauthn.js
 * (@simplewebauthn/browser); each finished ceremony is posted back in its
 * form, with the page's CSRF token, as any other form of the pages.
 */
(function () {
  "use strict";
  var lib = window.SimpleWebAuthnBrowser;
  if (!lib || !lib.browserSupportsWebAuthn()) return;

  function showError(form, text) {
    var box = form.querySelector("[data-passkey-error]");
    if (!box) return;
    box.textContent = text;
    box.className = "alert";
    box.hidden = false;
  }

  function post(form, credential) {
    form.elements.response.value = JSON.stringify(credential);
    form.submit();
  }

  var signIn = document.getElementById("passkey-sign-in");
  if (signIn) {
    var signInButton = signIn.querySelector("button");
    signIn.hidden = false;
    var pending = null;
    // One challenge serves the autofill and the button, until one of them uses it or fails.
    var options = function () {
      pending =
        pending ||
        fetch(signIn.dataset.optionsUrl, { method: "POST", credentials: "same-origin", headers: { accept: "application/json" } })
          .then(function (answer) {
            return answer.json();
          })
          .then(function (body) {
            if (!body || !body.success) throw new Error((body && body.error && body.error.message) || "no options");
            return body.data.options;
          });
      return pending;
    };
    var run = function (autofill) {
      return options().then(function (optionsJSON) {
        return lib.startAuthentication({ optionsJSON: optionsJSON, useBrowserAutofill: autofill });
      });
    };
    signInButton.addEventListener("click", function (event) {
      event.preventDefault();
      signInButton.disabled = true;
      run(false)
        .then(function (credential) {
          post(signIn, credential);
        })
        .catch(function () {
          pending = null;
          signInButton.disabled = false;
          showError(signIn, signIn.dataset.failed);
        });
    });
    lib.browserSupportsWebAuthnAutofill().then(function (supported) {
      if (!supported) return;
      run(true)
        .then(function (credential) {
          post(signIn, credential);
        })
        .catch(function () {
          // Aborted by the button, or dismissed: the button still works.
        });
    });
  }

  var add = document.getElementById("passkey-add");
  if (add) {
    var addButton = add.querySelector("button[type=submit]");
    var optionsJSON = JSON.parse(document.getElementById("passkey-options").textContent);
    add.hidden = false;
    add.addEventListener("submit", function (event) {
      if (add.elements.response.value) return;
      event.preventDefault();
      addButton.disabled = true;
      lib
        .startRegistration({ optionsJSON: optionsJSON })
        .then(function (credential) {
          post(add, credential);
        })
        .catch(function () {
          addButton.disabled = false;
          showError(add, add.dataset.failed);
        });
    });
  }
})();
