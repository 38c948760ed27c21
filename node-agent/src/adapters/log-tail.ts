/**
 * The tail of a deploy step's output as it may leave the host (pure):
 *
 * 1. control characters out: ANSI escape sequences (CSI, OSC, two-byte),
 *    C0/C1 controls except newline and tab, bidi overrides; a carriage
 *    return keeps only what follows it on its line (what a terminal shows);
 * 2. secret values replaced by `***`: each value, each line of a multi-line
 *    value (8 characters or more), their base64 (standard and URL-safe, at
 *    every byte alignment), also when a line break (and indentation, `>` or
 *    `|` prefixes as nix prints log lines) splits them;
 * 3. capped to `maxBytes` UTF-8 bytes, keeping the last whole lines, with a
 *    marker line first when something was cut.
 *
 * Redaction runs before the cap, so a cut can never leave part of a secret.
 */

/** Values shorter than this are not redacted (they would blank out ordinary words); see docs/secrets.md. */
export const MIN_SECRET_CHARS = 4;
/** Lines of a multi-line secret, and base64 fragments, shorter than this are not redacted on their own. */
export const MIN_FRAGMENT_CHARS = 8;
/** Needles longer than this are matched literally only (a line-break-tolerant pattern would be too slow). */
const MAX_FLEXIBLE_CHARS = 1024;
export const REDACTED = "***";

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[PX^_][^\x1b]*(?:\x1b\\)?|\x1b[ -/]*[0-~]|\x9b[0-?]*[ -/]*[@-~]/g;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Removes escape sequences and control characters (keeps \n and \t; a lone \r keeps what follows it). */
export function stripControl(text: string): string {
  const noAnsi = text.replace(ANSI, "").replace(/\r+\n/g, "\n");
  return noAnsi
    .split("\n")
    .map((line) => {
      const i = line.lastIndexOf("\r");
      return (i >= 0 ? line.slice(i + 1) : line).replace(CONTROL, "");
    })
    .join("\n");
}

function b64Fragments(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let k = 0; k < 3 && k < bytes.length; k++) {
    const part = bytes.subarray(k);
    const whole = Math.floor(part.length / 3) * 3;
    if (whole === 0) continue;
    const std = part.subarray(0, whole).toString("base64");
    if (std.length >= MIN_FRAGMENT_CHARS) out.push(std, std.replace(/\+/g, "-").replace(/\//g, "_"));
  }
  return out;
}

/** Every string that would reveal one of `values` (the values, their lines, their base64), longest first. */
export function secretNeedles(values: Iterable<string>): string[] {
  const set = new Set<string>();
  for (const raw of values) {
    const v = raw.trim();
    if (v.length < MIN_SECRET_CHARS) continue;
    set.add(v);
    const lines = v.split(/\r?\n/).map((l) => l.trim());
    if (lines.length > 1) for (const l of lines) if (l.length >= MIN_FRAGMENT_CHARS) set.add(l);
    for (const b of b64Fragments(Buffer.from(v, "utf8"))) set.add(b);
    if (raw !== v) for (const b of b64Fragments(Buffer.from(raw, "utf8"))) set.add(b);
  }
  return [...set].sort((a, b) => b.length - a.length);
}

const escapeRe = (c: string) => c.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");

/** A pattern matching `needle` also when line breaks (with indentation or a `>`/`|` prefix) were inserted between its characters. */
function flexible(needle: string): RegExp {
  const gap = "(?:\\n[ \\t>|]*)?";
  return new RegExp([...needle].map(escapeRe).join(gap), "g");
}

/** Redacts precomputed needles (see secretNeedles). */
export function redactNeedles(text: string, needles: readonly string[]): string {
  let out = text;
  for (const n of needles) {
    if (out.includes(n)) out = out.split(n).join(REDACTED);
    if (n.length <= MAX_FLEXIBLE_CHARS && out.includes("\n")) out = out.replace(flexible(n), REDACTED);
  }
  return out;
}

export interface Tail {
  text: string;
  truncated: boolean;
}

/** The last whole lines of `text` within `maxBytes` UTF-8 bytes (a longer last line keeps its end), with a marker line when cut. */
export function capTail(text: string, maxBytes: number, alreadyCut = 0): Tail {
  const total = Buffer.byteLength(text, "utf8");
  if (total <= maxBytes && alreadyCut === 0) return { text, truncated: false };
  const marker = (kept: number) => `[… earlier output cut: last ${kept} of ${total + alreadyCut} bytes kept]\n`;
  const budget = maxBytes - Buffer.byteLength(marker(maxBytes), "utf8");
  const lines = text.split("\n");
  const kept: string[] = [];
  let used = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    const size = Buffer.byteLength(line, "utf8") + (kept.length ? 1 : 0);
    if (used + size > budget) {
      if (kept.length === 0) {
        // One line longer than the whole budget: keep its end (redaction already ran, so no partial secret).
        const buf = Buffer.from(line, "utf8");
        let cut = buf.subarray(buf.length - budget).toString("utf8").replace(/^\uFFFD+/, "");
        while (Buffer.byteLength(cut, "utf8") > budget) cut = cut.slice(1);
        kept.push(cut);
        used = Buffer.byteLength(cut, "utf8");
      }
      break;
    }
    kept.unshift(line);
    used += size;
  }
  const body = kept.join("\n");
  return { text: marker(Buffer.byteLength(body, "utf8")) + body, truncated: true };
}

/** Control characters out, secrets redacted, then capped: what may leave the host. */
export function safeTail(text: string, needles: readonly string[], maxBytes: number, alreadyCut = 0): Tail {
  return capTail(redactNeedles(stripControl(text), needles), maxBytes, alreadyCut);
}
