/**
 * Operator authentication for the read API, dashboard and metrics: bearer
 * tokens from the config, compared in constant time (SHA-256 digests of equal
 * length, every token checked). Agents never hold a bearer token: their
 * signed envelopes open nothing but their own reports, gate and watch.
 */
import { createHash, timingSafeEqual } from "node:crypto";

export const TOKEN_COOKIE = "flotilla_token";

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

export class OperatorAuth {
  private readonly tokens: { name: string; digest: Buffer }[];

  constructor(tokens: { name: string; token: string }[], readonly allowAnonymous: boolean) {
    this.tokens = tokens.map((t) => ({ name: t.name, digest: digest(t.token) }));
  }

  /** The operator's name for a presented token, or null. */
  check(presented: string | null | undefined): string | null {
    if (!presented) return null;
    const d = digest(presented);
    let match: string | null = null;
    for (const t of this.tokens) if (timingSafeEqual(d, t.digest) && match === null) match = t.name;
    return match;
  }
}

export function bearer(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return m ? m[1]! : null;
}
