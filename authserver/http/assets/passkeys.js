// Passkeys (WebAuthn) on the login, second-step and account pages (docs/login-and-sso.md, "Passkeys").
//
// Options come from the server as JSON and the credential goes back as JSON, binary
// members base64url-encoded (WebAuthn L3 §5.1.8, §5.4, §5.5). Every request carries the
// page's CSRF token in X-CSRF-Token. The pages' Content-Security-Policy allows this file
// and nothing else: no inline script, no other origin.
"use strict";

(() => {
  const ABORTED = "AbortError";

  function decode(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
    return Uint8Array.from(binary, (character) => character.charCodeAt(0)).buffer;
  }

  function encode(buffer) {
    const binary = String.fromCharCode(...new Uint8Array(buffer));
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map((credential) => ({ ...credential, id: decode(credential.id) }));
  }

  function creationOptions(json) {
    return {
      ...json,
      challenge: decode(json.challenge),
      user: { ...json.user, id: decode(json.user.id) },
      excludeCredentials: descriptors(json.excludeCredentials),
    };
  }

  function requestOptions(json) {
    return {
      ...json,
      challenge: decode(json.challenge),
      allowCredentials: descriptors(json.allowCredentials),
    };
  }

  function credentialJSON(credential, response) {
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: encode(credential.response.clientDataJSON), ...response },
    };
  }

  function attestationJSON(credential) {
    const response = credential.response;
    return credentialJSON(credential, {
      attestationObject: encode(response.attestationObject),
      transports: response.getTransports ? response.getTransports() : [],
    });
  }

  function assertionJSON(credential) {
    const response = credential.response;
    return credentialJSON(credential, {
      authenticatorData: encode(response.authenticatorData),
      signature: encode(response.signature),
      userHandle: response.userHandle ? encode(response.userHandle) : undefined,
    });
  }

  async function post(path, section, body) {
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": section.dataset.csrfToken },
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error(answer.error_description || "The passkey could not be used.");
    }
    return answer;
  }

  // What the browser's own errors (WebAuthn L3 §5.1.3, §5.1.4) mean to the user.
  const BROWSER_ERRORS = {
    NotAllowedError: "No passkey was used. Please try again.",
    InvalidStateError: "This device has a passkey for this account already.",
    SecurityError: "Passkeys do not work on this address.",
  };

  function showError(section, error) {
    if (error && error.name === ABORTED) {
      return;
    }
    const message =
      (error && BROWSER_ERRORS[error.name]) ||
      (error && error.message) ||
      "The passkey could not be used.";
    const alert = section.querySelector("[data-passkey-error]");
    alert.textContent = message;
    alert.hidden = false;
  }

  // Signing in (purpose "sign-in": username-less) or proving the second factor.
  async function authenticate(section, mediation, signal) {
    const purpose = section.dataset.purpose;
    const options = await post("/passkeys/authentication/options", section, { purpose });
    const credential = await navigator.credentials.get({
      publicKey: requestOptions(options),
      mediation,
      signal,
    });
    const answer = await post("/passkeys/authentication", section, {
      purpose,
      next: section.dataset.next || undefined,
      credential: assertionJSON(credential),
    });
    window.location.assign(answer.location);
  }

  async function offerAutofill(section) {
    // Conditional mediation (L3 §5.1.4): the browser offers passkeys in the username
    // field's autofill (its autocomplete says "username webauthn", login.html); the
    // request stays open until one is picked or it is aborted.
    const username = document.getElementById("username");
    const available =
      PublicKeyCredential.isConditionalMediationAvailable &&
      (await PublicKeyCredential.isConditionalMediationAvailable().catch(() => false));
    if (!username || !available) {
      return null;
    }
    const controller = new AbortController();
    const pending = authenticate(section, "conditional", controller.signal).catch((error) =>
      showError(section, error),
    );
    return { controller, pending };
  }

  async function setUpSignIn(section) {
    const button = section.querySelector('[data-action="passkey"]');
    let autofill = section.dataset.purpose === "sign-in" ? await offerAutofill(section) : null;
    button.addEventListener("click", async () => {
      button.disabled = true;
      if (autofill) {
        // One request at a time: the autofill's ends before the button's starts.
        autofill.controller.abort();
        await autofill.pending;
        autofill = null;
      }
      try {
        await authenticate(section, "optional", undefined);
      } catch (error) {
        showError(section, error);
        button.disabled = false;
      }
    });
    button.hidden = false;
  }

  function setUpRegistration(section) {
    const button = section.querySelector('[data-action="add-passkey"]');
    const name = section.querySelector("[data-passkey-name]");
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const options = await post("/passkeys/registration/options", section, {});
        const credential = await navigator.credentials.create({
          publicKey: creationOptions(options),
        });
        await post("/passkeys/registration", section, {
          name: name ? name.value : "",
          credential: attestationJSON(credential),
        });
        window.location.reload();
      } catch (error) {
        showError(section, error);
        button.disabled = false;
      }
    });
    section.querySelector("[data-passkey-add]").hidden = false;
  }

  if (!window.PublicKeyCredential) {
    return;
  }
  document.querySelectorAll("[data-passkey-sign-in]").forEach(setUpSignIn);
  document.querySelectorAll("[data-passkey-registration]").forEach(setUpRegistration);
})();
