// Helpers for scenarios that run several Portcullis instances on shared services: a Redis of the
// scenario's own (a `redis-server` on a free port, no persistence), a fresh Postgres database per
// run (dropped at the end, passed or failed), secrets shared by every instance, and a small HTTP
// client on Node's fetch with a cookie jar of its own (no browser needed).
//
// Everything is ended by what started it: the Redis process by its PID (and `redis-cli shutdown
// nosave` on its port), the database by its name. Should this process die first, an exit hook
// does both, synchronously.

import { spawn, spawnSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import path from "node:path";

import { freePort, run, sleep } from "./harness.js";

export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN || "redis-server";
export const REDIS_CLI_BIN = process.env.REDIS_CLI_BIN || "redis-cli";
/** The Postgres server to create the scenario's database on (a superuser's URL, no database). */
export const POSTGRES = (process.env.E2E_POSTGRES || "postgres://postgres@127.0.0.1:5432").replace(/\/+$/, "");

// ---------------------------------------------------------------------------------------------
// Last-resort cleanup: what is still around when this process exits.

const redisChildren = new Set();
const databases = new Set();

process.on("exit", () => {
  for (const child of redisChildren) {
    try {
      process.kill(child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  for (const name of databases) dropDatabaseSync(name);
});

function dropDatabaseSync(name) {
  spawnSync("psql", [`${POSTGRES}/postgres`, "-v", "ON_ERROR_STOP=1", "-qc", `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`], {
    stdio: "ignore",
    timeout: 10_000,
  });
}

// ---------------------------------------------------------------------------------------------
// Redis

/**
 * A `redis-server` of the scenario's own on a free port: no RDB, no AOF, its log in the scenario's
 * directory. `stop()` shuts it down (`redis-cli shutdown nosave`), `start()` starts it again on the
 * same port — an outage and its end. The stack ends it with everything else.
 */
export async function startRedis(stack, { name = "redis" } = {}) {
  const port = await freePort();
  const log = path.join(stack.dir, `${name}.log`);
  stack.logs.push([name, log]);
  const redis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    child: null,
    async start() {
      const child = spawn(
        REDIS_SERVER_BIN,
        ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", stack.dir],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      redisChildren.add(child);
      child.once("exit", () => redisChildren.delete(child));
      const out = createWriteStream(log, { flags: "a" });
      child.stdout.pipe(out, { end: false });
      child.stderr.pipe(out, { end: false });
      stack.children.push([name, child]);
      this.child = child;
      const deadline = Date.now() + 10_000;
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode}) on port ${port}; see ${log}`);
        }
        const ping = spawnSync(REDIS_CLI_BIN, ["-p", String(port), "ping"], { encoding: "utf8", timeout: 2_000 });
        if (ping.stdout?.trim() === "PONG") return;
        if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port} within 10 s`);
        await sleep(50);
      }
    },
    /** Shuts it down without saving and waits for its process to end. */
    async stop() {
      const child = this.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      // `shutdown` closes the connection without a reply: a non-zero exit is expected.
      spawnSync(REDIS_CLI_BIN, ["-p", String(port), "shutdown", "nosave"], { stdio: "ignore", timeout: 5_000 });
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
  await redis.start();
  return redis;
}

// ---------------------------------------------------------------------------------------------
// Postgres

/**
 * A new, empty database `pc_e2e_<random>` on POSTGRES, dropped (`WITH (FORCE)`) after the test `t`
 * — passed or failed, after the scenario's stack has ended its processes.
 */
export async function createDatabase(t) {
  const name = `pc_e2e_${randomBytes(6).toString("hex")}`;
  await run("psql", [`${POSTGRES}/postgres`, "-v", "ON_ERROR_STOP=1", "-qc", `CREATE DATABASE ${name}`]);
  databases.add(name);
  const drop = async () => {
    if (!databases.has(name)) return;
    await run("psql", [`${POSTGRES}/postgres`, "-v", "ON_ERROR_STOP=1", "-qc", `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
    databases.delete(name);
  };
  t.after(drop);
  return { name, url: `${POSTGRES}/${name}`, drop };
}

// ---------------------------------------------------------------------------------------------
// Secrets

/**
 * A `[secrets]` section for every instance: CSRF and refresh-token keys (32 random bytes, base64)
 * and one Ed25519 signing key in the format of `jwt-keys.json` (PKCS#8 DER, base64).
 */
export function sharedSecrets() {
  const { privateKey } = generateKeyPairSync("ed25519");
  const der = privateKey.export({ format: "der", type: "pkcs8" });
  const key = {
    kid: randomBytes(12).toString("base64url"),
    alg: "EdDSA",
    secret: der.toString("base64"),
    created_at: Math.floor(Date.now() / 1000),
    retired_at: null,
  };
  return {
    csrf_key: randomBytes(32).toString("base64"),
    refresh_key: randomBytes(32).toString("base64"),
    jwt_keys: JSON.stringify({ keys: [key] }),
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP

/**
 * A client with one cookie jar, whichever server it talks to (nginx or an instance directly:
 * all on 127.0.0.1, so a browser would send them the same host-only cookies too).
 */
export class Client {
  constructor() {
    this.jar = new Map();
    this.csrf = undefined;
  }

  /** The `Cookie` header of the jar. */
  cookieHeader() {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  /**
   * `method` `url`; `json` as the body; `cookies` replaces the jar's for this request (the jar
   * is still updated from the answer unless `keep` is false). Resolves to
   * `{ status, headers, body (parsed JSON or text), type, ms }`.
   */
  async request(method, url, { json, headers = {}, cookies, keep = true, timeout = 5_000 } = {}) {
    const h = { ...headers };
    const cookie = cookies ?? this.cookieHeader();
    if (cookie) h.cookie = cookie;
    if (json !== undefined) h["content-type"] = "application/json";
    const started = performance.now();
    const res = await fetch(url, {
      method,
      headers: h,
      body: json === undefined ? undefined : JSON.stringify(json),
      redirect: "manual",
      signal: AbortSignal.timeout(timeout),
    });
    const text = await res.text();
    const ms = performance.now() - started;
    if (keep) {
      for (const line of res.headers.getSetCookie()) {
        const [pair, ...attrs] = line.split(";");
        const eq = pair.indexOf("=");
        const name = pair.slice(0, eq).trim();
        const value = pair.slice(eq + 1).trim();
        const expired = attrs.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a));
        if (expired) this.jar.delete(name);
        else this.jar.set(name, value);
      }
    }
    const type = res.headers.get("content-type") || "";
    let body = text;
    if (/json/.test(type) && text) {
      try {
        body = JSON.parse(text);
      } catch {
        // left as text; the assertion shows it
      }
    }
    return { status: res.status, headers: res.headers, body, type, ms };
  }

  get(url, options) {
    return this.request("GET", url, options);
  }

  post(url, options) {
    return this.request("POST", url, options);
  }

  /** `GET /api/getcsrf` on `base`: the token (kept for `csrfHeaders`) and the nonce cookie. */
  async fetchCsrf(base) {
    const res = await this.get(`${base}/api/getcsrf`);
    if (res.status !== 200) throw new Error(`GET ${base}/api/getcsrf: ${res.status} ${JSON.stringify(res.body)}`);
    this.csrf = res.headers.get("x-csrftoken");
    return this.csrf;
  }

  csrfHeaders() {
    return { "x-csrftoken": this.csrf };
  }

  /** Session login through `POST /api/login` on `base` (fetching a CSRF token first if none). */
  async login(base, { username, password }) {
    if (!this.csrf) await this.fetchCsrf(base);
    return this.post(`${base}/api/login`, { json: { username, password }, headers: this.csrfHeaders() });
  }
}

/** Describes an answer for an assertion message. */
export const show = (res) => `${res.status} ${typeof res.body === "string" ? res.body.slice(0, 200) : JSON.stringify(res.body)}`;

/**
 * Calls `probe` (async, resolves to an answer) until `done(answer)` holds or `timeout` ms have
 * passed since `since` (default now). Resolves to `{ answer, ms }` — `ms` since `since` when it
 * held — or throws naming `what` and the last answer.
 */
export async function until(what, probe, done, { timeout, since = performance.now(), every = 25 } = {}) {
  let answer;
  for (;;) {
    answer = await probe();
    const ms = performance.now() - since;
    if (done(answer)) {
      if (ms > timeout) throw new Error(`${what}: only after ${Math.round(ms)} ms (allowed: ${timeout} ms)`);
      return { answer, ms };
    }
    if (ms > timeout) throw new Error(`${what}: not within ${timeout} ms; last answer ${show(answer)}`);
    await sleep(every);
  }
}
