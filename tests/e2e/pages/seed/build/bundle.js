// The frontend of the classic "Session-based Auth with Flask for Single Page Apps" tutorial
// (testdrivenio/flask-spa-auth, same-domain variant), as its App.svelte behaves once built:
// the same raw fetch calls, in the same order, with the same headers and credentials. Written
// without Svelte so that the suite needs no build step; nothing here knows about Portcullis.
//
//   on load   GET /api/getsession; when logged out, GET /api/getcsrf and keep `X-CSRFToken`
//   login     POST /api/login {username, password} with `X-CSRFToken`
//   whoami    GET /api/data  -> "Welcome, <username>!" (the tutorial uses alert(); shown in the
//                               page here so that a screenshot can see it)
//   logout    GET /api/logout; the token is kept (no new GET /api/getcsrf), as in the tutorial
//
// All requests use `credentials: "same-origin"`.
//
// The tutorial's Jinja variant (pages/seed-jinja) runs this same component with the token its
// Flask template renders into `<meta name="csrf-token">`: its bundle sets `window.SEED_TOKEN`
// from that tag before loading this file, and then no GET /api/getcsrf is made at all.
(function () {
  "use strict";

  let username = "";
  let password = "";
  let error = "";
  let welcome = "";
  let isAuthenticated = false;
  let csrfToken = window.SEED_TOKEN || "";

  const csrf = () => {
    fetch("/api/getcsrf", {
      credentials: "same-origin",
    })
      .then((res) => {
        // (sic) the tutorial passes an array; Headers.get stringifies it to "X-CSRFToken".
        csrfToken = res.headers.get(["X-CSRFToken"]);
        // console.log(csrfToken);
      })
      .catch((err) => {
        console.log(err);
      });
  };

  const getSession = () => {
    fetch("/api/getsession", {
      credentials: "same-origin",
    })
      .then((res) => res.json())
      .then((data) => {
        console.log(data);
        if (data.login == true) {
          isAuthenticated = true;
        } else {
          isAuthenticated = false;
          if (!window.SEED_TOKEN) csrf();
        }
        render();
      })
      .catch((err) => {
        console.log(err);
      });
  };

  const isResponseOk = (response) => {
    if (response.status >= 200 && response.status <= 299) {
      return response.json();
    } else {
      throw Error(response.statusText);
    }
  };

  const login = () => {
    fetch("/api/login", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "X-CSRFToken": csrfToken,
      },
      credentials: "same-origin",
      body: JSON.stringify({ username: username, password: password }),
    })
      .then(isResponseOk)
      .then((data) => {
        console.log(data);
        isAuthenticated = true;
        username = "";
        password = "";
        error = "";
        render();
      })
      .catch((err) => {
        console.log(err);
        error = "Wrong username or password.";
        render();
      });
  };

  const logout = () => {
    fetch("/api/logout", {
      credentials: "same-origin",
    })
      .then(isResponseOk)
      .then((data) => {
        console.log(data);
        // As the tutorial's page: no new token. The next login sends the one from page load,
        // which stays valid for this browser after logout.
        isAuthenticated = false;
        welcome = "";
        render();
      })
      .catch((err) => {
        console.log(err);
      });
  };

  const whoami = () => {
    fetch("/api/data", {
      method: "GET",
      headers: {
        "Content-Type": "application/json",
      },
      credentials: "same-origin",
    })
      .then((res) => res.json())
      .then((data) => {
        console.log(data);
        welcome = `Welcome, ${data.username}!`;
        render();
      })
      .catch((err) => {
        console.log(err);
      });
  };

  // --- what Svelte's compiled template does -------------------------------------------------
  const h = (tag, attrs, ...children) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v);
    }
    for (const c of children) el.append(c);
    return el;
  };

  function render() {
    const container = h("div", { class: "container mt-3" }, h("h1", {}, "Svelte Auth"), h("br"));
    if (!isAuthenticated) {
      const user = h("input", { type: "text", class: "form-control", id: "username", name: "username" });
      user.value = username;
      user.addEventListener("input", () => (username = user.value));
      const pass = h("input", { type: "password", class: "form-control", id: "password", name: "password" });
      pass.value = password;
      pass.addEventListener("input", () => (password = pass.value));
      const form = h(
        "form",
        {
          onsubmit: (event) => {
            event.preventDefault();
            login();
          },
        },
        h("div", { class: "form-group" }, h("label", { for: "username" }, "Username"), user),
        h(
          "div",
          { class: "form-group" },
          h("label", { for: "username" }, "Password"),
          pass,
          h("div", {}, ...(error ? [h("small", { class: "text-danger" }, error)] : [])),
        ),
        h("button", { type: "submit", class: "btn btn-primary" }, "Login"),
      );
      container.append(h("h2", {}, "Login"), form);
    } else {
      container.append(
        h("p", {}, "You are authenticated!"),
        h("button", { class: "btn btn-primary mr-2", onclick: whoami }, "WhoAmI"),
        h("button", { class: "btn btn-danger", onclick: logout }, "Log out"),
        ...(welcome ? [h("p", { id: "welcome" }, welcome)] : []),
      );
    }
    document.body.replaceChildren(container);
  }

  getSession();
})();
