/**
 * Errors: every non-2xx answer of a high-level method becomes a {@link PortcullisError} built
 * from the server's RFC 9457 `application/problem+json` body.
 */

/** The stable `code`s the server answers in problem+json bodies (see the HTTP contract). */
export const ERROR_CODES = [
  "unauthenticated",
  "invalid_credentials",
  "csrf_failed",
  "forbidden",
  "fresh_login_required",
  "mfa_required",
  "token_expired",
  "token_invalid",
  "token_revoked",
  "refresh_reused",
  "rate_limited",
  "account_locked",
  "validation_failed",
  "malformed_request",
  "unsupported_media_type",
  "conflict",
  "not_found",
  "method_not_allowed",
  "payload_too_large",
  "unavailable",
  "internal",
  /** Not a server code: an answer the client could not read as a known problem. */
  "unknown",
] as const;

/** A stable error code, as a string-literal union. */
export type PortcullisErrorCode = (typeof ERROR_CODES)[number];

/** One field error of a 422 `validation_failed` answer. */
export interface FieldError {
  field: string;
  message: string;
}

/** The problem+json body as the server sends it. */
export interface ProblemDetails {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  errors?: FieldError[];
  retry_after?: number;
  [extension: string]: unknown;
}

export interface PortcullisErrorInit {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: PortcullisErrorCode;
  errors?: FieldError[];
  retryAfter?: number;
  mfaToken?: string;
  body?: unknown;
}

/** An error answered by Portcullis (or a non-2xx answer shaped like one). */
export class PortcullisError extends Error {
  /** The problem type URI, e.g. `https://portcullis.dev/problems/rate_limited`. */
  readonly type: string;
  /** The short, human-readable summary (the HTTP reason phrase). */
  readonly title: string;
  /** The HTTP status. */
  readonly status: number;
  /** What went wrong, for people. */
  readonly detail: string;
  /** The stable code to match on. */
  readonly code: PortcullisErrorCode;
  /** Field errors of a 422 `validation_failed`. */
  declare readonly errors?: FieldError[];
  /** Seconds to wait before trying again (429 `rate_limited`, 423 `account_locked`). */
  declare readonly retryAfter?: number;
  /** The short-lived token to finish an MFA login with (401 `mfa_required`). */
  declare readonly mfaToken?: string;
  /** The parsed response body, if it was JSON. */
  declare readonly body?: unknown;

  constructor(init: PortcullisErrorInit) {
    super(init.detail || init.title || init.code);
    this.name = "PortcullisError";
    this.type = init.type;
    this.title = init.title;
    this.status = init.status;
    this.detail = init.detail;
    this.code = init.code;
    if (init.errors !== undefined) this.errors = init.errors;
    if (init.retryAfter !== undefined) this.retryAfter = init.retryAfter;
    if (init.mfaToken !== undefined) this.mfaToken = init.mfaToken;
    if (init.body !== undefined) this.body = init.body;
  }
}

/** Whether `value` is a {@link PortcullisError} (optionally with the given code). */
export function isPortcullisError(value: unknown, code?: PortcullisErrorCode): value is PortcullisError {
  return value instanceof PortcullisError && (code === undefined || value.code === code);
}

const KNOWN = new Set<string>(ERROR_CODES);

const BY_STATUS: Record<number, PortcullisErrorCode> = {
  400: "malformed_request",
  401: "unauthenticated",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  409: "conflict",
  413: "payload_too_large",
  415: "unsupported_media_type",
  422: "validation_failed",
  423: "account_locked",
  429: "rate_limited",
  500: "internal",
  503: "unavailable",
};

const PROBLEM_BASE = "https://portcullis.dev/problems/";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `Retry-After`: delay-seconds or an HTTP date, as whole seconds from `now`. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/**
 * The code of a problem body, if the body is one (`code`, else the last segment of `type`).
 * Does not consume anything: takes an already parsed body.
 */
export function problemCode(body: unknown): string | undefined {
  if (!isRecord(body)) return undefined;
  if (typeof body.code === "string") return body.code;
  if (typeof body.type === "string" && body.type.startsWith(PROBLEM_BASE)) {
    return body.type.slice(PROBLEM_BASE.length);
  }
  return undefined;
}

/** Builds the error for a non-2xx answer from its status, headers and parsed body. */
export function errorFromParts(status: number, headers: Headers, body: unknown, statusText = ""): PortcullisError {
  const record = isRecord(body) ? body : {};
  let code: PortcullisErrorCode;
  const given = problemCode(body);
  if (given !== undefined && KNOWN.has(given)) {
    code = given as PortcullisErrorCode;
  } else if (status === 401 && record.login === false) {
    // The seed-compatible `POST /api/login` answers a wrong password with `{"login": false}`.
    code = "invalid_credentials";
  } else {
    code = BY_STATUS[status] ?? "unknown";
  }
  const title = typeof record.title === "string" ? record.title : statusText || `HTTP ${status}`;
  let detail: string;
  if (typeof record.detail === "string") {
    detail = record.detail;
  } else if (code === "invalid_credentials") {
    detail = "wrong username or password";
  } else {
    detail = title;
  }
  const retryAfter =
    typeof record.retry_after === "number" ? record.retry_after : parseRetryAfter(headers.get("Retry-After"));
  const errors = Array.isArray(record.errors)
    ? record.errors.filter(
        (e): e is FieldError => isRecord(e) && typeof e.field === "string" && typeof e.message === "string",
      )
    : undefined;
  const init: PortcullisErrorInit = {
    type: typeof record.type === "string" ? record.type : `${PROBLEM_BASE}${code}`,
    title,
    status,
    detail,
    code,
    body,
  };
  if (errors !== undefined) init.errors = errors;
  if (retryAfter !== undefined) init.retryAfter = retryAfter;
  if (typeof record.mfa_token === "string") init.mfaToken = record.mfa_token;
  return new PortcullisError(init);
}

/** Reads a body as JSON if it is any; `undefined` for an empty or non-JSON body. */
export async function readJson(response: Response): Promise<unknown> {
  let text: string;
  try {
    text = await response.text();
  } catch {
    return undefined;
  }
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Builds a {@link PortcullisError} from a non-2xx response (consumes its body). */
export async function errorFromResponse(response: Response): Promise<PortcullisError> {
  const body = await readJson(response);
  return errorFromParts(response.status, response.headers, body, response.statusText);
}
