/**
 * Values that must never leave the host in logs, state or reports: the legacy
 * env files' values, and the decrypted values of the secrets generations the
 * agent installed (registered by the capturing runner, step-output.ts, after
 * every command, so an error quoting a command's output is redacted when it
 * is made). Command output quoted in an error, an event or the state passes
 * through `redact` first, which also catches the values' base64 and values
 * split across lines (log-tail.ts).
 */
import { redactNeedles, secretNeedles } from "./log-tail.js";

const values = new Set<string>();
let needles: string[] | null = null;

export function registerSecretValue(v: string): void {
  const s = v.trim();
  if (s.length >= 4 && !values.has(s)) {
    values.add(s);
    needles = null;
  }
}

export function redact(text: string): string {
  if (values.size === 0) return text;
  needles ??= secretNeedles(values);
  return redactNeedles(text, needles);
}

/** The registered values (for the output tails' redaction, adapters/step-output.ts). */
export function registeredSecretValues(): string[] {
  return [...values];
}
