/**
 * Query-parameter parsing for the HTTP API. Every malformed value is a 400
 * InvalidQuery naming the parameter (`path`) and what was expected; nothing
 * unparsed reaches the store. Pure.
 */
import { HttpError } from "../errors.js";

const shown = (v: string) => JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);

function invalid(name: string, expected: string, v: string): HttpError {
  return new HttpError(400, "InvalidQuery", `${name}: expected ${expected}, got ${shown(v)}`, name);
}

/** A decimal integer in [min, max]; absent → undefined. Empty, signs, fractions, exponents, hex, spaces are refused. */
export function intParam(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const expected = `an integer from ${min} to ${max}`;
  if (!/^\d{1,16}$/.test(v)) throw invalid(name, expected, v);
  const n = Number(v);
  if (n < min || n > max) throw invalid(name, expected, v);
  return n;
}

/** One of `allowed`; absent → undefined. */
export function enumParam<T extends string>(v: string | undefined, name: string, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) throw invalid(name, allowed.map((a) => `"${a}"`).join(" or "), v);
  return v as T;
}

const UNIT_MS = { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 } as const;

/** A timestamp or a duration back from `now` ("90m", "2h", "7d"); absent or empty → undefined. */
export function sinceParam(v: string | undefined, now: number, name = "since"): number | undefined {
  if (!v) return undefined;
  const expected = 'a timestamp (2026-01-01T00:00:00Z) or a duration like "2h"';
  const rel = /^(\d{1,9})([smhd])$/.exec(v);
  const t = rel ? now - Number(rel[1]) * UNIT_MS[rel[2] as keyof typeof UNIT_MS] : /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (!Number.isSafeInteger(t)) throw invalid(name, expected, v);
  return t;
}
