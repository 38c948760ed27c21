/**
 * Run-time checks for the agent without zod: the generated JSON Schema of a
 * format, compiled once by json-check.ts. `accepts` is the fast path; when it
 * says no, `check` asks zod (loaded then, and only then), whose verdict and
 * issues stand: json-check is sound but not complete (see json-check.ts).
 */
import type { z } from "zod";
import { AGENT_SCHEMAS, type AgentFormat } from "./agent-schemas.generated.js";
import { compile, type Check } from "./json-check.js";

export type { AgentFormat };

const compiled = new Map<AgentFormat, Check>();

/** True when `v` is certainly valid `format` (zod would accept it unchanged). */
export function accepts(format: AgentFormat, v: unknown): boolean {
  let c = compiled.get(format);
  if (!c) {
    c = compile(AGENT_SCHEMAS[format], format);
    compiled.set(format, c);
  }
  return c(v);
}

export type Checked<T> = { success: true; data: T } | { success: false; error: z.ZodError };

/** Like zod's safeParse of `format`, loading zod only for values the fast path refuses. */
export async function check<T>(format: AgentFormat, v: unknown): Promise<Checked<T>> {
  if (accepts(format, v)) return { success: true, data: v as T };
  const { PUBLISHED } = await import("./registry.js");
  return PUBLISHED[format]!.safeParse(v) as Checked<T>;
}

/**
 * A short reason why `v` is not `format`, without zod: the missing and the
 * unknown top-level keys, else where to look. For messages where loading zod
 * for the full list is not worth it.
 */
export function schemaHint(format: AgentFormat, v: unknown): string {
  const s = AGENT_SCHEMAS[format];
  if (v === null || typeof v !== "object" || Array.isArray(v)) return "expected a JSON object";
  const known = Object.keys((s.properties as object | undefined) ?? {});
  const missing = ((s.required as string[] | undefined) ?? []).filter((k) => !(k in v));
  const unknown = s.additionalProperties === false ? Object.keys(v).filter((k) => !known.includes(k)) : [];
  const parts = [...(missing.length ? [`missing ${missing.join(", ")}`] : []), ...(unknown.length ? [`unknown ${unknown.join(", ")}`] : [])];
  return parts.length ? parts.join("; ") : `a value does not match schemas/generated/${format}.schema.json`;
}
