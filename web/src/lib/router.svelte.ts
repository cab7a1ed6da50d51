// A small History API router: the path and query are state; same-origin links are followed
// without a page load. The server answers index.html for every extension-less path, so a
// reload or a deep link lands on the same page.

export const route = $state({ path: location.pathname, search: location.search, navigations: 0 });

function sync(): void {
  route.path = location.pathname;
  route.search = location.search;
}

/** Goes to a path of this page. Anything that is not a same-origin path is ignored. */
export function navigate(href: string, options: { replace?: boolean } = {}): void {
  const url = new URL(href, location.href);
  if (url.origin !== location.origin) return;
  const target = url.pathname + url.search + url.hash;
  if (options.replace) history.replaceState(null, "", target);
  else history.pushState(null, "", target);
  sync();
  route.navigations += 1;
}

/** The query parameter `name` of the current route. */
export function param(name: string): string | null {
  return new URLSearchParams(route.search).get(name);
}

addEventListener("popstate", () => {
  sync();
  route.navigations += 1;
});

// Same-origin links become route changes, except new-tab clicks, downloads, in-page anchors
// and links marked rel="external" (e.g. `next`, which may lead to another app on this site).
document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const target = event.target instanceof Element ? event.target.closest("a") : null;
  if (target === null || target.target !== "" || target.hasAttribute("download")) return;
  if (target.relList.contains("external")) return;
  const href = target.getAttribute("href");
  if (href === null || href.startsWith("#")) return;
  const url = new URL(target.href);
  if (url.origin !== location.origin) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});

/**
 * `next` if it is a path on this site, else `null` — the same rule as the server's (an
 * open-redirect defence): a leading `/`, not `//` or `/\`, no whitespace, control characters or
 * backslashes, also once percent-decoded.
 */
export function safeNext(next: string | null): string | null {
  if (next === null || next === "" || next.length > 2048 || !next.startsWith("/")) return null;
  if (next[1] === "/" || next[1] === "\\") return null;
  const bad = (s: string) => /[\s\\\u0000-\u001f\u007f-\u009f]/.test(s);
  if (bad(next)) return null;
  let decoded: string;
  try {
    decoded = decodeURIComponent(next);
  } catch {
    return null;
  }
  if (decoded.startsWith("//") || decoded.includes("\\") || /[\u0000-\u001f\u007f-\u009f]/.test(decoded)) return null;
  // And the browser must read it as this origin.
  return new URL(next, location.origin).origin === location.origin ? next : null;
}
