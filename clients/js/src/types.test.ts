// The SDK's API types against the OpenAPI document's (src/openapi.ts, generated): checked by the
// type checker (`npm run typecheck` covers the tests), so a document that drops a field the SDK
// promises, or answers a problem code the SDK does not know, fails the SDK's checks.

import { describe, expectTypeOf, it } from "vitest";

import type { Me, MeSession, PortcullisErrorCode, SessionInfo, operations } from "./index.js";

/** Every response of every operation of the document. */
type AnyResponse = {
  [O in keyof operations]: operations[O] extends { responses: infer R } ? R[keyof R] : never;
}[keyof operations];
/** The `code`s of the problem+json answers the document lists. */
type DocumentProblemCode = AnyResponse extends infer R
  ? R extends { content: { "application/problem+json": { code: infer C } } }
    ? C
    : never
  : never;

describe("types from the OpenAPI document", () => {
  it("keep every field the SDK documents for /api/me and /api/sessions", () => {
    expectTypeOf<keyof Me>().toEqualTypeOf<
      "id" | "username" | "email" | "roles" | "permissions" | "mfa_enabled" | "session"
    >();
    expectTypeOf<keyof MeSession>().toEqualTypeOf<
      "id" | "kind" | "created_at" | "last_seen_at" | "expires_at" | "fresh_until" | "remember"
    >();
    expectTypeOf<keyof SessionInfo>().toEqualTypeOf<
      "id" | "kind" | "created_at" | "last_seen_at" | "expires_at" | "ip" | "user_agent" | "remember" | "current"
    >();
  });

  it("know every problem code the document can answer", () => {
    expectTypeOf<DocumentProblemCode>().not.toBeNever();
    expectTypeOf<DocumentProblemCode>().toExtend<PortcullisErrorCode>();
  });
});
