// What the page says about a failed call, from the problem+json `code`.

import { isPortcullisError } from "@portcullis/client";

/** "42 seconds", "10 minutes", "2 hours". */
export function waitText(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return "a little while";
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 90) return `${s} second${s === 1 ? "" : "s"}`;
  const m = Math.ceil(s / 60);
  if (m < 90) return `${m} minutes`;
  const h = Math.ceil(m / 60);
  return `${h} hours`;
}

function sentence(text: string): string {
  const t = text.trim();
  if (t === "") return t;
  const capital = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** Messages to use instead of the defaults, by code. */
export type Overrides = Partial<Record<string, string>>;

/** One sentence for the error alert. */
export function errorMessage(error: unknown, overrides: Overrides = {}): string {
  if (!isPortcullisError(error)) {
    // fetch rejects with a TypeError when the server cannot be reached.
    return error instanceof TypeError
      ? "Could not reach the server. Check the connection and try again."
      : "Something went wrong. Try again.";
  }
  const own = overrides[error.code];
  if (own !== undefined) return own;
  switch (error.code) {
    case "invalid_credentials":
      return "Wrong username or password.";
    case "rate_limited":
      return `Too many attempts. Try again in ${waitText(error.retryAfter)}.`;
    case "account_locked":
      return `This account is locked after too many failed attempts. Try again in ${waitText(error.retryAfter)}.`;
    case "validation_failed":
      return "Please correct the fields marked below.";
    case "csrf_failed":
      return "The page's security token was refused. Reload the page and try again.";
    case "unauthenticated":
      return "Your session has ended. Log in again.";
    case "fresh_login_required":
      return "Confirm your password to do this.";
    case "mfa_required":
      return "This account needs a second factor, which this page cannot ask for yet.";
    case "unavailable":
      return "The server is busy or unavailable. Try again shortly.";
    case "internal":
      return "The server failed to answer. Try again later.";
    default:
      return sentence(error.detail || error.title) || "The request failed.";
  }
}

/** What to show for a failed form: one alert sentence and the errors of the form's fields. */
export interface Described {
  message: string;
  fields: Record<string, string>;
}

/**
 * Describes `error` for a form whose fields are `labels` (API field name → label). Field errors
 * of a 422 go next to their fields as sentences starting with the label; an error about a field
 * the form does not show is added to the alert.
 */
export function describe(error: unknown, labels: Record<string, string> = {}, overrides: Overrides = {}): Described {
  const fields: Record<string, string> = {};
  const stray: string[] = [];
  if (isPortcullisError(error) && error.errors !== undefined) {
    for (const { field, message } of error.errors) {
      const label = labels[field];
      const text = sentence(`${label ?? field} ${message}`);
      if (label === undefined) stray.push(text);
      else fields[field] = fields[field] ? `${fields[field]} ${text}` : text;
    }
  }
  const message = [errorMessage(error, overrides), ...stray].join(" ");
  return { message, fields };
}
