/**
 * A small in-test model of a Portcullis server: a `fetch` that records every call and answers
 * with real `Response`s from per-route handlers. No network, no DOM.
 */

export interface Call {
  /** The full URL as given to fetch. */
  url: string;
  /** Path without origin or query. */
  path: string;
  method: string;
  headers: Headers;
  body: string | undefined;
  credentials: RequestCredentials | undefined;
}

export type Handler = (call: Call) => Response | Promise<Response>;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

export function problem(
  code: string,
  status: number,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  const body = {
    type: `https://portcullis.dev/problems/${code}`,
    title: "Error",
    status,
    detail: `${code} detail`,
    code,
    ...extra,
  };
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/problem+json", ...headers },
  });
}

export class FakeServer {
  readonly calls: Call[] = [];
  private readonly routes = new Map<string, Handler>();

  /** Registers the handler of `METHOD path` (replacing any earlier one). */
  on(method: string, path: string, handler: Handler): this {
    this.routes.set(`${method.toUpperCase()} ${path}`, handler);
    return this;
  }

  /** The calls made to `METHOD path`. */
  callsTo(method: string, path: string): Call[] {
    return this.calls.filter((c) => c.method === method.toUpperCase() && c.path === path);
  }

  /** A fetch with the global one's signature. */
  readonly fetch = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const request = input instanceof Request ? input : undefined;
    const url = request ? request.url : String(input);
    const method = (init.method ?? request?.method ?? "GET").toUpperCase();
    const headers = new Headers(init.headers ?? request?.headers);
    let body: string | undefined;
    if (typeof init.body === "string") {
      body = init.body;
    } else if (init.body == null && request && request.body !== null) {
      body = await request.text();
    }
    const path = new URL(url, "http://portcullis.test").pathname;
    const call: Call = { url, path, method, headers, body, credentials: init.credentials ?? request?.credentials };
    this.calls.push(call);
    await Promise.resolve();
    const handler = this.routes.get(`${method} ${path}`);
    if (handler === undefined) return problem("not_found", 404);
    return handler(call);
  };
}

/** The value of `Authorization: Bearer ...`, if sent. */
export function bearerOf(call: Call): string | null {
  const value = call.headers.get("Authorization");
  return value?.startsWith("Bearer ") ? value.slice("Bearer ".length) : null;
}

/**
 * A token-mode server: `/auth/login` issues `at-1`; each refresh issues `at-N+1` (after
 * `refreshDelayMs`); `/api/data` accepts only live tokens. `expireAll()` kills the live ones.
 */
export class TokenServer extends FakeServer {
  live = new Set<string>();
  issued = 0;
  refreshDelayMs = 5;
  /** What `/auth/refresh` answers instead of a new token, when set. */
  refreshFailure: Response | (() => Response) | null = null;
  /** Delay of each `/api/data` answer, by arrival order (to spread 401s out in time). */
  dataDelay: (index: number) => number = () => 0;
  private dataCalls = 0;

  constructor() {
    super();
    this.on("POST", "/auth/login", (call) => {
      const { username, password } = JSON.parse(call.body ?? "{}") as Record<string, string>;
      if (username !== "alice" || password !== "pw") return problem("invalid_credentials", 401);
      return json({ msg: "logged in", access_token: this.issue(), token_type: "Bearer", expires_in: 900 });
    });
    this.on("POST", "/auth/refresh", async () => {
      await sleep(this.refreshDelayMs);
      if (this.refreshFailure !== null) {
        const failure = this.refreshFailure;
        return typeof failure === "function" ? failure() : failure.clone();
      }
      return json({ access_token: this.issue(), token_type: "Bearer", expires_in: 900 });
    });
    this.on("POST", "/auth/logout", () => json({ msg: "logged out" }));
    const data: Handler = async (call) => {
      await sleep(this.dataDelay(this.dataCalls++));
      const bearer = bearerOf(call);
      if (bearer === null || !this.live.has(bearer)) return problem("token_expired", 401);
      return json({ username: "alice", token: bearer, body: call.body ?? null });
    };
    this.on("GET", "/api/data", data);
    this.on("POST", "/api/data", data);
  }

  issue(): string {
    this.issued += 1;
    const token = `at-${this.issued}`;
    this.live.add(token);
    return token;
  }

  expireAll(): void {
    this.live.clear();
  }
}

/**
 * A session-mode server: `/api/getcsrf` issues `csrf-N` in the `X-CSRFToken` header; unsafe
 * routes accept only tokens in `acceptedCsrf` (seed routes answer 400 `csrf_failed`, account
 * routes 403, as the real server does); `alice`/`pw` logs in.
 */
export class SessionServer extends FakeServer {
  acceptedCsrf = new Set<string>();
  /** Whether `/api/getcsrf` tokens become accepted as they are issued. */
  acceptIssued = true;
  csrfIssued = 0;
  loggedIn = false;

  constructor() {
    super();
    this.on("GET", "/api/getcsrf", () => {
      this.csrfIssued += 1;
      const token = `csrf-${this.csrfIssued}`;
      if (this.acceptIssued) this.acceptedCsrf.add(token);
      return json({ detail: "CSRF cookie set" }, 200, { "X-CSRFToken": token });
    });
    this.on("POST", "/api/login", (call) => {
      if (!this.csrfOk(call)) return problem("csrf_failed", 400);
      const body = JSON.parse(call.body ?? "{}") as Record<string, unknown>;
      if (body.username !== "alice" || body.password !== "pw") return json({ login: false }, 401);
      this.loggedIn = true;
      return typeof body.next === "string" ? json({ login: true, next: body.next }) : json({ login: true });
    });
    this.on("POST", "/api/logout", (call) => {
      if (!this.csrfOk(call)) return problem("csrf_failed", 400);
      if (!this.loggedIn) return problem("unauthenticated", 401);
      this.loggedIn = false;
      return json({ logout: true });
    });
    this.on("GET", "/api/getsession", () => json({ login: this.loggedIn }));
    this.on("GET", "/api/me", () => {
      if (!this.loggedIn) return problem("unauthenticated", 401);
      return json(ME);
    });
    this.on("POST", "/api/sessions/revoke-others", (call) => {
      if (!this.csrfOk(call)) return problem("csrf_failed", 403);
      return json({ revoked: 2 });
    });
  }

  csrfOk(call: Call): boolean {
    const token = call.headers.get("X-CSRFToken");
    return token !== null && this.acceptedCsrf.has(token);
  }
}

export const ME = {
  id: "0190a1b2-0000-7000-8000-000000000001",
  username: "alice",
  email: null,
  roles: ["user"],
  permissions: [],
  mfa_enabled: false,
  session: {
    id: "0190a1b2-0000-7000-8000-0000000000aa",
    kind: "cookie",
    created_at: "2025-01-01T00:00:00Z",
    last_seen_at: "2025-01-01T00:00:00Z",
    expires_at: "2025-01-01T00:30:00Z",
    fresh_until: "2025-01-01T00:10:00Z",
    remember: false,
  },
};
