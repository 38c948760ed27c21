/**
 * Values that must never leave the host in logs, state or reports (the
 * legacy env files' values, secrets). Command output quoted in an error is
 * passed through `redact` first.
 */
const values = new Set<string>();

export function registerSecretValue(v: string): void {
  const s = v.trim();
  if (s.length >= 4) values.add(s);
}

export function redact(text: string): string {
  let out = text;
  for (const v of values) if (out.includes(v)) out = out.split(v).join("***");
  return out;
}

/** The registered values (for the output tails' redaction, adapters/step-output.ts). */
export function registeredSecretValues(): string[] {
  return [...values];
}
