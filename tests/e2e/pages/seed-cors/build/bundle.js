// The classic tutorial's cross-origin frontend (testdrivenio/flask-spa-auth, cross-origin
// variant): the same-domain page of ../../seed/build/bundle.js with the two changes that
// variant makes — absolute URLs to the API's own origin, and `credentials: "include"` so that
// the browser sends and accepts the API's cookies on cross-origin requests. The API's origin
// comes from /config.js (`window.API_URL`), which the suite writes; the tutorial hard-codes
// "http://localhost:5000".
(function () {
  "use strict";

  const API_URL = window.API_URL || "http://localhost:5000";

  let username = "";
  let password = "";
  let error = "";
  let welcome = "";
  let isAuthenticated = false;
  let csrfToken = "";

  const csrf = () => {
    fetch(`${API_URL}/api/getcsrf`, {
      credentials: "include",
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
    fetch(`${API_URL}/api/getsession`, {
      credentials: "include",
    })
      .then((res) => res.json())
      .then((data) => {
        console.log(data);
        if (data.login == true) {
          isAuthenticated = true;
        } else {
          isAuthenticated = false;
          csrf();
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
    fetch(`${API_URL}/api/login`, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "X-CSRFToken": csrfToken,
      },
      credentials: "include",
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
    fetch(`${API_URL}/api/logout`, {
      credentials: "include",
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
    fetch(`${API_URL}/api/data`, {
      method: "GET",
      headers: {
        "Content-Type": "application/json",
      },
      credentials: "include",
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
