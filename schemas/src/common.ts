/**
 * Shared building blocks for every Flotilla file format and message:
 * durations, commit ids, ssh keys, host selectors. Each is a zod schema so the
 * same definition yields the TS type, the runtime validator and the JSON Schema.
 */
import { z } from "zod";
import { named } from "./custom-checks.js";
import { DURATION_PATTERN, parseDuration } from "./duration.js";

export const Duration = z
  .string()
  .regex(DURATION_PATTERN, { message: 'expected a duration such as "30s", "5m", "1h30m" or "0"' })
  .describe('A duration: one or more <number><unit> with unit ms, s, m, h or d (e.g. "90s", "1h30m"), or "0".');
export type Duration = z.infer<typeof Duration>;

/**
 * A duration no longer than `max` (e.g. "1d"): every duration field has a
 * bound, so no value can overflow the timer or the date arithmetic using it.
 */
export function durationAtMost(max: string) {
  const maxMs = parseDuration(max);
  return Duration.refine(named((d: string) => !DURATION_PATTERN.test(d) || parseDuration(d) <= maxMs, { name: "durationAtMost", maxMs }), {
    message: `expected a duration of at most ${max}`,
  });
}

export const CommitSha = z
  .string()
  .regex(/^[0-9a-f]{40}$/, { message: "expected a full 40-hex-digit lowercase commit id" })
  .describe("A full 40-hex-digit git commit id.");
export type CommitSha = z.infer<typeof CommitSha>;

export const SSH_ED25519_PATTERN = /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]+={0,2}( .*)?$/;
export const SshEd25519PublicKey = z
  .string()
  .regex(SSH_ED25519_PATTERN, { message: 'expected an OpenSSH "ssh-ed25519 AAAA…" public key line' })
  .describe("An OpenSSH ed25519 public key line (`ssh-ed25519 AAAAC3Nza… [comment]`), e.g. the contents of /etc/ssh/ssh_host_ed25519_key.pub.");

export const HostName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
    message: "expected a host name: lowercase letters, digits and '-', 1-63 characters",
  })
  .describe("Host name (RFC 1123 label).");

/**
 * A member selector: an exact host name, a glob over host names (`web-*`),
 * or a tag (`tag:web`).
 */
export const Selector = z
  .string()
  .min(1)
  .regex(/^(tag:[A-Za-z0-9_.-]+|[A-Za-z0-9_.*?\[\]{},!-]+)$/, {
    message: 'expected a host name, a glob such as "web-*", or "tag:<tag>"',
  })
  .describe('Host name, glob over host names ("web-*"), or "tag:<name>".');
export type Selector = z.infer<typeof Selector>;

export const Tag = z.string().regex(/^[A-Za-z0-9_.-]+$/, { message: "expected a tag: letters, digits, '_', '.', '-'" });

/** ISO-8601 timestamp with timezone, as produced by Date.prototype.toISOString. */
export const Timestamp = z.iso.datetime({ offset: true }).describe("RFC 3339 timestamp.");
