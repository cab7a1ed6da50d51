// A minimal token-mode SPA on @portcullis/client (clients/js, built into /sdk/ by the suite):
// POST /auth/login gives an in-memory access token, `authFetch` sends it as a bearer token and
// refreshes it transparently (POST /auth/refresh with the HttpOnly refresh cookie) when it has
// expired. A reload starts with an empty memory and asks /auth/refresh for a token.

import { createClient, isPortcullisError } from "/sdk/index.js";

const $ = (id) => document.getElementById(id);
let loggedIn = false;

function show(state, message = "") {
  loggedIn = state;
  $("status").textContent = state ? "logged in" : "logged out";
  $("login").hidden = state;
  $("app").hidden = !state;
  $("error").textContent = message;
  if (!state) $("me").textContent = "";
}

const auth = createClient({
  mode: "token",
  // A refresh was refused (revoked, reused, no cookie): the login is gone.
  onLogout: () => {
    if (loggedIn) show(false, "Your session has ended. Please log in again.");
  },
});

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("error").textContent = "";
  try {
    await auth.login($("username").value, $("password").value);
    $("password").value = "";
    show(true);
  } catch (e) {
    $("error").textContent = isPortcullisError(e, "invalid_credentials") ? "Wrong username or password." : String(e.message || e);
  }
});

$("whoami").addEventListener("click", async () => {
  $("me").textContent = "…";
  const res = await auth.authFetch("/api/me");
  if (res.ok) {
    $("me").textContent = (await res.json()).username;
  } else if (res.status === 401) {
    show(false, "Your session has ended. Please log in again.");
  } else {
    $("me").textContent = `error ${res.status}`;
  }
});

$("logout").addEventListener("click", async () => {
  try {
    await auth.logout();
  } finally {
    show(false);
  }
});

// At load the memory is empty: a refresh cookie (from a login in another tab, or before a
// reload) gives a new access token.
auth.refresh().then(
  () => show(true),
  () => show(false),
);
