/** A minimal fake `document` (and storages) for tests running in vitest's node environment. */
import { vi } from "vitest";

export interface FakeDocumentOptions {
  /** `content` of `<meta name="csrf-token">`; no meta tag when undefined. */
  meta?: string;
  /** What `document.cookie` reads. */
  cookie?: string;
}

export function fakeDocument(options: FakeDocumentOptions = {}) {
  const cookieSetter = vi.fn<(value: string) => void>();
  const doc = {
    querySelector(selector: string) {
      if (selector !== 'meta[name="csrf-token"]' || options.meta === undefined) return null;
      const content = options.meta;
      return { getAttribute: (name: string) => (name === "content" ? content : null) };
    },
  };
  Object.defineProperty(doc, "cookie", {
    get: () => options.cookie ?? "",
    set: cookieSetter,
    configurable: true,
    enumerable: true,
  });
  vi.stubGlobal("document", doc);
  return { doc, cookieSetter };
}

/** Stubs `localStorage` and `sessionStorage` with spies on every writing method. */
export function fakeStorages() {
  const make = () => ({
    setItem: vi.fn(),
    removeItem: vi.fn(),
    clear: vi.fn(),
    getItem: vi.fn(() => null),
    key: vi.fn(() => null),
    length: 0,
  });
  const local = make();
  const session = make();
  vi.stubGlobal("localStorage", local);
  vi.stubGlobal("sessionStorage", session);
  return { local, session };
}
