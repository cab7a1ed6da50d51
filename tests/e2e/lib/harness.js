// The end-to-end harness: each scenario gets a Stack — a temporary directory, its own Portcullis
// and nginx processes on free ports, and a headless Chromium — and the Stack ends every process
// it started, by PID, when the scenario ends, passed or failed.

import { spawn, execFile } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, readFileSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { chromium } from "playwright-core";

const execFileP = promisify(execFile);

export const E2E_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const REPO = path.resolve(E2E_DIR, "../..");
export const PAGES = path.join(E2E_DIR, "pages");
export const DEPLOY_NGINX = path.join(REPO, "deploy/nginx");
/** nginx files of other projects that the suite runs as they are (placeholders aside). */
export const E2E_NGINX = path.join(E2E_DIR, "nginx");
export const SCREENSHOTS = path.join(REPO, "docs/img");

const TARGET = process.env.CARGO_TARGET_DIR || "/var/cache/portcullis-target";
export const PORTCULLIS_BIN = process.env.E2E_PORTCULLIS_BIN || path.join(TARGET, "debug/portcullis");

/**
 * The environment of every child: without PORTCULLIS_* variables, which Portcullis reads as
 * configuration (and refuses when it does not know them), so a scenario gets only its own.
 */
const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PORTCULLIS_")));
export const NGINX_BIN = process.env.NGINX_BIN || "/usr/sbin/nginx";
export const CHROMIUM_BIN = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
const NGINX_MODULES = "/usr/lib/nginx/modules";

export const ALICE = { username: "alice", password: "correct-horse-battery-42" };
export const MALLORY = { username: "mallory", password: "mallory-password-1" };

/** Every placeholder the files of deploy/nginx may use; none may survive substitution. */
const PLACEHOLDERS = [
  "LISTEN_PORT",
  "SERVER_NAME",
  "PORTCULLIS_UPSTREAM",
  "PORTCULLIS_UPSTREAM_1",
  "PORTCULLIS_UPSTREAM_2",
  "PORTCULLIS_UPSTREAM_3",
  "SPA_ROOT",
  "APP_UPSTREAM",
  "TLS_CERT",
  "TLS_KEY",
];

// ---------------------------------------------------------------------------------------------
// Processes: every child is tracked so that even a crash of this process ends them.

const live = new Set();

function killAllNow() {
  for (const child of live) {
    try {
      process.kill(child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  live.clear();
}
process.on("exit", killAllNow);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    killAllNow();
    process.exit(128 + (os.constants.signals[signal] || 0));
  });
}

function track(child) {
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

/** Ends one child: SIGTERM, then SIGKILL after `grace` ms. Resolves when it has exited. */
async function stop(child, grace = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  try {
    process.kill(child.pid, "SIGTERM");
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(child.pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }, grace);
  await exited;
  clearTimeout(timer);
}

/** A TCP port nobody listens on right now (the OS picks it; we close it again at once). */
export async function freePort() {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

async function waitForPort(port, child, what, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before listening on ${port}`);
    }
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within ${timeout} ms`);
    await sleep(50);
  }
}

/** Runs a command to its end; fails with its output when it does. */
export async function run(cmd, args, { input = "", timeout = 30_000 } = {}) {
  const child = track(spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], env: childEnv }));
  let output = "";
  child.stdout.on("data", (c) => (output += c));
  child.stderr.on("data", (c) => (output += c));
  // A command that exits without reading its input (openssl) closes the pipe first: that EPIPE is
  // not a failure; the exit code says how the command did.
  child.stdin.on("error", () => {});
  child.stdin.end(input);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeout);
  const [code, signal] = await once(child, "exit");
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${path.basename(cmd)} ${args.join(" ")} failed (${code ?? signal}):\n${output}`);
  return output;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Small helpers

/** TOML for a two-level object: `{ section: { key: value } }` (values may be inline tables). */
function toToml(config) {
  const value = (v) => {
    if (Array.isArray(v)) return `[${v.map(value).join(", ")}]`;
    if (v && typeof v === "object") return `{ ${Object.entries(v).map(([k, x]) => `${k} = ${value(x)}`).join(", ")} }`;
    if (typeof v === "string") return JSON.stringify(v);
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    throw new Error(`cannot write ${JSON.stringify(v)} as TOML`);
  };
  return Object.entries(config)
    .map(([section, keys]) => `[${section}]\n${Object.entries(keys).map(([k, v]) => `${k} = ${value(v)}`).join("\n")}\n`)
    .join("\n");
}

function merge(base, over) {
  const out = { ...base };
  for (const [k, v] of Object.entries(over || {})) {
    out[k] = v && typeof v === "object" && !Array.isArray(v) ? merge(base[k] || {}, v) : v;
  }
  return out;
}

/** An nginx server block (not a deploy file) serving `root` as a static site on 127.0.0.1:`port`. */
export const staticSite = (port, root) => `
    server {
        listen 127.0.0.1:${port};
        root ${root};
        location / {
            try_files $uri $uri/ /index.html;
        }
    }
`;

/** The file `name` of deploy/nginx with its placeholders replaced; every one given must occur. */
export function renderDeployConf(name, vars) {
  return renderConf(path.join(DEPLOY_NGINX, name), vars);
}

/** An nginx file with its placeholders (the ones of deploy/nginx) replaced, as renderDeployConf. */
export function renderConf(file, vars) {
  const name = path.relative(REPO, file);
  let text = readFileSync(file, "utf8");
  for (const [key, val] of Object.entries(vars)) {
    if (!PLACEHOLDERS.includes(key)) throw new Error(`unknown placeholder ${key}`);
    const re = new RegExp(`\\b${key}\\b`, "g");
    if (!re.test(text)) throw new Error(`${name} has no placeholder ${key} any more`);
    text = text.replace(re, String(val));
  }
  const left = PLACEHOLDERS.filter((p) => new RegExp(`\\b${p}\\b`).test(text));
  if (left.length) throw new Error(`${name}: placeholders left unfilled: ${left.join(", ")}`);
  return text;
}

async function tail(file, lines = 40) {
  try {
    const text = await readFile(file, "utf8");
    return text.split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

// ---------------------------------------------------------------------------------------------
// The stack of one scenario

export class Stack {
  constructor(name, dir) {
    this.name = name;
    this.dir = dir;
    this.children = [];
    this.logs = [];
    this.browsers = [];
    this.console = [];
  }

  static async create(name) {
    const dir = await mkdtemp(path.join(os.tmpdir(), `portcullis-e2e-${name}-`));
    return new Stack(name, dir);
  }

  /** A copy of tests/e2e/pages/<name> in the scenario's directory, plus `extraFiles`. */
  async pages(name, extraFiles = {}) {
    const dest = path.join(this.dir, "pages", name);
    await cp(path.join(PAGES, name), dest, { recursive: true });
    for (const [file, content] of Object.entries(extraFiles)) {
      await writeFile(path.join(dest, file), content);
    }
    return dest;
  }

  /**
   * Starts `portcullis serve` on a free port with test-speed password hashing, a temporary data
   * directory and the given users (`{ username, password, admin? }`), merged with `config`
   * (sections of portcullis.toml).
   */
  async portcullis({ name = "portcullis", config = {}, users = [ALICE] } = {}) {
    const dir = path.join(this.dir, name);
    await mkdir(dir, { recursive: true });
    const full = merge(
      {
        server: { data_dir: path.join(dir, "data") },
        password: { memory_kib: 64, iterations: 1, danger_allow_weak_params: true },
        proxy: { trusted: ["127.0.0.1/32"] },
        log: { level: "info" },
      },
      config,
    );
    const configFile = path.join(dir, "portcullis.toml");
    await writeFile(configFile, toToml(full));

    for (const user of users) {
      const admin = user.admin ? ["--admin"] : [];
      await run(PORTCULLIS_BIN, ["--config", configFile, "user", "add", user.username, "--password-stdin", ...admin], {
        input: `${user.password}\n`,
      });
    }

    const log = path.join(dir, "portcullis.log");
    this.logs.push([name, log]);
    const out = createWriteStream(log);
    const child = track(
      spawn(PORTCULLIS_BIN, ["--config", configFile, "serve", "--bind", "127.0.0.1:0"], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...childEnv, NO_COLOR: "1" },
      }),
    );
    this.children.push([name, child]);
    child.stderr.pipe(out, { end: false });
    child.stdout.pipe(out, { end: false });
    const url = await new Promise((resolve, reject) => {
      let seen = "";
      const onData = (chunk) => {
        seen += chunk;
        const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(seen);
        if (m) done(null, m[1]);
      };
      const onExit = (code, signal) => done(new Error(`${name} exited (${code ?? signal}) before listening:\n${seen}`));
      const timer = setTimeout(() => done(new Error(`${name} did not start within 20 s:\n${seen}`)), 20_000);
      function done(err, value) {
        clearTimeout(timer);
        child.stdout.off("data", onData);
        child.off("exit", onExit);
        if (err) reject(err);
        else resolve(value);
      }
      child.stdout.on("data", onData);
      child.once("exit", onExit);
    });
    const hostPort = url.replace("http://", "");
    return { url, hostPort, port: Number(hostPort.split(":")[1]), configFile };
  }

  /**
   * Starts nginx with a generated nginx.conf around `sites` (text of http-level configuration,
   * e.g. from renderDeployConf) — unprivileged of any system nginx: `daemon off`, its pid file,
   * logs and temp paths in the scenario's directory. Waits until every port in `ports` listens.
   */
  async nginx({ name = "nginx", sites, ports }) {
    const dir = path.join(this.dir, name);
    await mkdir(path.join(dir, "tmp"), { recursive: true });
    await mkdir(path.join(dir, "logs"), { recursive: true });
    const includes = [];
    for (const [i, text] of sites.entries()) {
      const file = path.join(dir, `site-${i}.conf`);
      await writeFile(file, text);
      includes.push(`    include ${file};`);
    }
    const needsSetMisc = sites.some((s) => s.includes("set_escape_uri"));
    const modules = needsSetMisc
      ? [
          `load_module ${NGINX_MODULES}/ndk_http_module.so;`,
          `load_module ${NGINX_MODULES}/ngx_http_set_misc_module.so;`,
        ].join("\n")
      : "";
    const errorLog = path.join(dir, "logs/error.log");
    const conf = `# Generated by tests/e2e/lib/harness.js for scenario ${this.name}.
# One process, in the foreground: the suite's PID is all of nginx, so ending it ends nginx.
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${errorLog} info;
${modules}
events {
    worker_connections 256;
}
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log ${dir}/logs/access.log;
    client_body_temp_path ${dir}/tmp/client_body;
    proxy_temp_path ${dir}/tmp/proxy;
    fastcgi_temp_path ${dir}/tmp/fastcgi;
    uwsgi_temp_path ${dir}/tmp/uwsgi;
    scgi_temp_path ${dir}/tmp/scgi;
    server_tokens off;
${includes.join("\n")}
}
`;
    const confFile = path.join(dir, "nginx.conf");
    await writeFile(confFile, conf);
    this.logs.push([`${name} error.log`, errorLog]);
    const args = ["-p", `${dir}/`, "-c", confFile, "-e", errorLog];
    try {
      await execFileP(NGINX_BIN, ["-t", "-q", ...args], { env: childEnv });
    } catch (err) {
      throw new Error(`nginx -t refused the configuration:\n${err.stderr || err.message}\n${await tail(errorLog)}`);
    }
    const child = track(spawn(NGINX_BIN, args, { stdio: ["ignore", "ignore", "pipe"], env: childEnv }));
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    this.children.push([name, child]);
    try {
      for (const port of ports) await waitForPort(port, child, "nginx");
    } catch (err) {
      throw new Error(`${err.message}\n${stderr}\n${await tail(errorLog)}`);
    }
    return { dir, confFile };
  }

  /** Headless Chromium (Debian's; playwright-core never downloads one). */
  async browser() {
    const browser = await chromium.launch({
      executablePath: CHROMIUM_BIN,
      headless: true,
      timeout: 30_000,
      // *.test names resolve to this machine: a cross-site origin without touching /etc/hosts.
      args: ["--no-sandbox", "--host-resolver-rules=MAP *.test 127.0.0.1"],
    });
    this.browsers.push(browser);
    return browser;
  }

  /** A fresh browser context (its own cookie jar) and a page whose console is recorded. */
  async newPage(browser, options = {}) {
    const context = await browser.newContext({ viewport: { width: 800, height: 560 }, ...options });
    const page = await context.newPage();
    this.watch(page);
    return page;
  }

  watch(page) {
    const label = () => page.url();
    page.on("console", (msg) => this.console.push(`[${msg.type()}] ${label()}: ${msg.text()}`));
    page.on("pageerror", (err) => this.console.push(`[pageerror] ${label()}: ${err.message}`));
    page.on("requestfailed", (req) =>
      this.console.push(`[requestfailed] ${req.method()} ${req.url()}: ${req.failure()?.errorText}`),
    );
    return page;
  }

  /** Logs and browser console lines, for a failure message. */
  async diagnostics() {
    const parts = [`--- scenario directory: ${this.dir}`];
    for (const [name, file] of this.logs) parts.push(`--- ${name} (${file}), last lines:\n${await tail(file)}`);
    if (this.console.length) parts.push(`--- browser console:\n${this.console.slice(-40).join("\n")}`);
    return parts.join("\n");
  }

  /** Ends the browsers and every process this stack started, newest first, by PID. */
  async close({ keep = false } = {}) {
    for (const browser of this.browsers) await browser.close().catch(() => {});
    for (const [, child] of this.children.reverse()) await stop(child);
    if (!keep) await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * A scenario: one node:test test with its own Stack, closed at the end whatever happens. On
 * failure the error carries the processes' logs and the browser console, and the scenario's
 * directory is kept (as it is with E2E_KEEP=1).
 */
export function scenario(name, fn, { timeout = 60_000 } = {}) {
  test(name, { timeout }, async (t) => {
    const stack = await Stack.create(name.replace(/[^a-z0-9]+/gi, "-").slice(0, 40));
    let failed = false;
    try {
      await fn(stack, t);
    } catch (err) {
      failed = true;
      err.message = `${err.message}\n${await stack.diagnostics()}`;
      throw err;
    } finally {
      await stack.close({ keep: failed || process.env.E2E_KEEP === "1" });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Assertions on pages

/** Waits until `locator`'s text equals `expected` (trimmed), else fails showing what it was. */
export async function expectText(locator, expected, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  let actual;
  for (;;) {
    actual = await locator
      .first()
      .textContent({ timeout: 500 })
      .then((t) => t?.trim())
      .catch(() => undefined);
    if (actual === expected) return;
    if (Date.now() > deadline) {
      throw new Error(`expected ${locator} to read ${JSON.stringify(expected)}, it reads ${JSON.stringify(actual)}`);
    }
    await sleep(50);
  }
}

/** Waits until `locator` is visible. */
export async function expectVisible(locator, timeout = 10_000) {
  await locator.first().waitFor({ state: "visible", timeout });
}

/** Waits until `locator` is hidden or gone. */
export async function expectHidden(locator, timeout = 10_000) {
  await locator.first().waitFor({ state: "hidden", timeout });
}

/** A screenshot into docs/img/<name>.png (overwritten by every run). */
export async function screenshot(page, name) {
  await mkdir(SCREENSHOTS, { recursive: true });
  // No hover or focus styles: the same picture every run.
  await page.mouse.move(0, 0);
  await page.evaluate(() => document.activeElement?.blur());
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), animations: "disabled", caret: "hide" });
}

/** The named cookie of `url` in the page's context. */
export async function cookie(page, url, name) {
  const cookies = await page.context().cookies(url);
  return cookies.find((c) => c.name === name);
}

// ---------------------------------------------------------------------------------------------
// Additions for cross-site scenarios

/**
 * A browser context on a persistent profile (in the scenario's directory) whose preferences
 * allow third-party cookies. Debian's Chromium 156 blocks them by default — in Playwright's
 * ordinary contexts and in a fresh profile alike (the cookie is refused with blocked reason
 * "UserPreferences") — so a cross-site cookie (SameSite=None) works only where the user allowed
 * it. `options` are Playwright's context options (e.g. `ignoreHTTPSErrors`). Closed with the
 * stack.
 */
Stack.prototype.thirdPartyCookieContext = async function thirdPartyCookieContext(options = {}) {
  const profile = path.join(this.dir, "chromium-profile");
  await mkdir(path.join(profile, "Default"), { recursive: true });
  // cookie_controls_mode 0: "allow third-party cookies" in chrome://settings/cookies.
  await writeFile(
    path.join(profile, "Default", "Preferences"),
    JSON.stringify({ profile: { cookie_controls_mode: 0, block_third_party_cookies: false } }),
  );
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_BIN,
    headless: true,
    timeout: 30_000,
    args: ["--no-sandbox", "--host-resolver-rules=MAP *.test 127.0.0.1"],
    viewport: { width: 800, height: 560 },
    ...options,
  });
  this.browsers.push(context);
  return context;
};
