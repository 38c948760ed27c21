/**
 * Operator authentication for the read API, dashboard and metrics: bearer
 * tokens from the config, compared in constant time (SHA-256 digests of equal
 * length, every token checked). Agents never hold a bearer token: their
 * signed envelopes open nothing but their own reports, gate and watch.
 */
import { createHash, timingSafeEqual } from "node:crypto";

export const TOKEN_COOKIE = "flotilla_token";

/** "read" tokens may only read (status, audit, dashboard, /metrics); "operate" tokens (the default) may do everything operators can. */
export type OperatorRole = "read" | "operate";

/** Whether a token of this role may make this request: reads (GET/HEAD) for every role, anything else only for "operate". */
export function roleAllows(role: OperatorRole, method: string): boolean {
  return method === "GET" || method === "HEAD" || role === "operate";
}

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

export class OperatorAuth {
  private readonly tokens: { name: string; role: OperatorRole; digest: Buffer }[];

  constructor(tokens: { name: string; token: string; role?: OperatorRole }[], readonly allowAnonymous: boolean) {
    this.tokens = tokens.map((t) => ({ name: t.name, role: t.role ?? "operate", digest: digest(t.token) }));
  }

  /** The operator's name for a presented token, or null. */
  check(presented: string | null | undefined): string | null {
    return this.identify(presented)?.name ?? null;
  }

  /** The operator's name and role for a presented token, or null (constant time over all tokens). */
  identify(presented: string | null | undefined): { name: string; role: OperatorRole } | null {
    if (!presented) return null;
    const d = digest(presented);
    let match: { name: string; role: OperatorRole } | null = null;
    for (const t of this.tokens) if (timingSafeEqual(d, t.digest) && match === null) match = { name: t.name, role: t.role };
    return match;
  }
}

export function bearer(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return m ? m[1]! : null;
}
