// The built-in page: the same calls an SPA written for the session routes makes.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const call = (method, path, body) =>
    fetch(path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  function show(loggedIn) {
    $("login").hidden = loggedIn;
    $("account").hidden = !loggedIn;
    $("status").textContent = loggedIn ? "Logged in." : "You are not logged in.";
    $("me").textContent = "";
  }

  async function refresh() {
    const res = await call("GET", "/api/getsession");
    const data = await res.json();
    show(data.login === true);
  }

  // Where to go after login (forward auth sends people here with ?next=/their/page). The server
  // accepts only a path on this site and answers with it.
  const next = new URLSearchParams(location.search).get("next");

  $("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("error").textContent = "";
    const body = { username: $("username").value, password: $("password").value };
    if (next) body.next = next;
    const res = await call("POST", "/api/login", body);
    if (res.ok) {
      $("password").value = "";
      const data = await res.json().catch(() => ({}));
      if (typeof data.next === "string") return location.assign(data.next);
      show(true);
      return;
    }
    const data = await res.json().catch(() => ({}));
    $("error").textContent =
      data.login === false ? "Wrong username or password." : data.detail || "Login failed (" + res.status + ").";
  });

  $("whoami").addEventListener("click", async () => {
    const res = await call("GET", "/api/data");
    if (res.status === 401) return show(false);
    const data = await res.json();
    $("me").textContent = "Welcome, " + data.username + "!";
  });

  $("logout").addEventListener("click", async () => {
    await call("POST", "/api/logout");
    show(false);
  });

  refresh();
})();
