// Passkeys in the console (WebAuthn), loaded only by the pages that offer
// them; the server's side is server/tessera/src/web/console/passkeys.rs.
// - form#passkey-enrol (account page): asks the server for creation options,
//   runs navigator.credentials.create, posts the answer with the name.
// - #passkey-sign-in (second stage of sign-in): asks for request options,
//   runs navigator.credentials.get, posts the answer.
// Each POST carries the page's CSRF token as a form field. Binary fields
// travel as unpadded base64url both ways.
const fromBase64url = (text) => {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
};
const toBase64url = (buffer) => {
  let binary = "";
  for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};
const post = async (url, fields) => {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields),
  });
  let body = {};
  try { body = await response.json(); } catch { body = {}; }
  if (!response.ok) throw new Error(body.error || `The server refused (${response.status}). Reload the page and try again.`);
  return body;
};
const showError = (message) => {
  const p = document.getElementById("passkey-error");
  if (!p) return;
  p.textContent = message;
  p.hidden = false;
};
const failed = (error) => {
  // The browser's own refusals (cancelled prompt, timeout) are DOMExceptions.
  showError(error instanceof DOMException ? "The passkey prompt was cancelled or timed out. Try again." : error.message);
};

const enrol = document.getElementById("passkey-enrol");
if (enrol) {
  enrol.addEventListener("submit", async (event) => {
    event.preventDefault();
    const csrf = enrol.elements.csrf.value;
    const name = enrol.elements.name.value.trim();
    if (!name) { showError("Give the passkey a name first."); enrol.elements.name.focus(); return; }
    try {
      const options = await post(enrol.dataset.options, { csrf });
      const key = options.publicKey;
      key.challenge = fromBase64url(key.challenge);
      key.user.id = fromBase64url(key.user.id);
      for (const c of key.excludeCredentials || []) c.id = fromBase64url(c.id);
      const credential = await navigator.credentials.create({ publicKey: key });
      const answer = {
        id: credential.id,
        rawId: toBase64url(credential.rawId),
        type: credential.type,
        response: {
          attestationObject: toBase64url(credential.response.attestationObject),
          clientDataJSON: toBase64url(credential.response.clientDataJSON),
        },
        extensions: credential.getClientExtensionResults(),
      };
      const done = await post(enrol.dataset.action, { csrf, name, credential: JSON.stringify(answer) });
      window.location.assign(done.next);
    } catch (error) {
      failed(error);
    }
  });
}

const signIn = document.getElementById("passkey-sign-in");
if (signIn) {
  document.getElementById("use-passkey").addEventListener("click", async () => {
    const csrf = signIn.dataset.csrf;
    try {
      const options = await post(signIn.dataset.options, { csrf });
      const key = options.publicKey;
      key.challenge = fromBase64url(key.challenge);
      for (const c of key.allowCredentials || []) c.id = fromBase64url(c.id);
      const credential = await navigator.credentials.get({ publicKey: key });
      const r = credential.response;
      const answer = {
        id: credential.id,
        rawId: toBase64url(credential.rawId),
        type: credential.type,
        response: {
          authenticatorData: toBase64url(r.authenticatorData),
          clientDataJSON: toBase64url(r.clientDataJSON),
          signature: toBase64url(r.signature),
          userHandle: r.userHandle ? toBase64url(r.userHandle) : null,
        },
        extensions: credential.getClientExtensionResults(),
      };
      const done = await post(signIn.dataset.action, { csrf, credential: JSON.stringify(answer) });
      window.location.assign(done.next);
    } catch (error) {
      failed(error);
    }
  });
}
