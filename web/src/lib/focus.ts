// Where keyboard focus goes after a form fails: the first field in error, else the alert.

import { tick } from "svelte";

/**
 * After the DOM shows `fields` (API field name → message), focuses the first of `order` that has
 * an error, else `fallback` (the form's alert, so that its message is read out).
 */
export async function focusFirstError(
  fields: Record<string, string>,
  order: string[],
  inputs: Record<string, HTMLElement | undefined>,
  fallback: HTMLElement | undefined,
): Promise<void> {
  await tick();
  const first = order.find((name) => fields[name]);
  (first !== undefined ? inputs[first] : fallback)?.focus();
}
