/**
 * Checks that JSON Schema cannot express, by name: the zod definitions
 * register each refinement's function here (`named`), the JSON Schema
 * generator writes the name into the `x-flotilla-check` keyword, and
 * json-check.ts runs the same function from that keyword. No zod here.
 */
import { DURATION_PATTERN, parseDuration } from "./duration.js";
import { bodyMatchProblem, isNormalAbsolutePath, reservedSecretName } from "./names.js";

export type CustomCheck =
  | { name: "durationAtMost"; maxMs: number }
  | { name: "secretName" }
  | { name: "normalPath" }
  | { name: "bodyMatch" }
  | { name: "url"; protocol?: string }
  | { name: "maxUtf8Bytes"; max: number };

type Impl = (v: unknown, c: CustomCheck) => boolean;
const str = (f: (s: string, c: CustomCheck) => boolean): Impl => (v, c) => typeof v !== "string" || f(v, c);

export const CUSTOM_CHECKS: Record<string, Impl> = {
  durationAtMost: str((d, c) => !DURATION_PATTERN.test(d) || parseDuration(d) <= (c as { maxMs: number }).maxMs),
  secretName: str((n) => !reservedSecretName(n)),
  normalPath: str((p) => p === "" || isNormalAbsolutePath(p)),
  bodyMatch: str((p) => bodyMatchProblem(p) === null),
  maxUtf8Bytes: str((t, c) => Buffer.byteLength(t, "utf8") <= (c as { max: number }).max),
  // Stricter than zod's z.url(), never looser: zod trims the value and deletes
  // tabs and newlines (a rewrite), so such values go to zod to decide.
  url: str((u, c) => {
    if (u !== u.trim() || /[\t\n\r]/.test(u) || !URL.canParse(u)) return false;
    const protocol = (c as { protocol?: string }).protocol;
    if (protocol === undefined) return true;
    if (protocol === "^https?$" && !/^https?:\/\//i.test(u)) return false;
    return new RegExp(protocol).test(new URL(u).protocol.replace(/:$/, ""));
  }),
};

/** Refinement functions and the check each one is, for the JSON Schema generator. */
export const NAMED_CHECKS = new WeakMap<object, CustomCheck>();

/** Registers `fn` as the refinement `check`, and returns it. */
export function named<F extends (...a: never[]) => unknown>(fn: F, check: CustomCheck): F {
  NAMED_CHECKS.set(fn, check);
  return fn;
}
