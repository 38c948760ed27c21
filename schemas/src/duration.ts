/**
 * Duration strings ("90s", "1h30m", "0") and their conversion to milliseconds.
 * Pure; used by the schemas (pattern) and by normalisation (value).
 */
export const DURATION_PATTERN = /^(0|(\d+(ms|s|m|h|d))+)$/;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number {
  if (!DURATION_PATTERN.test(text)) {
    throw new Error(`invalid duration "${text}": expected e.g. "30s", "5m", "1h30m" or "0"`);
  }
  if (text === "0") return 0;
  let total = 0;
  for (const m of text.matchAll(/(\d+)(ms|s|m|h|d)/g)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return total;
}

export function formatDuration(ms: number): string {
  if (ms === 0) return "0";
  if (ms % 1000 !== 0) return `${ms}ms`;
  let s = ms / 1000;
  const parts: string[] = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  return parts.join("");
}

/** The longest delay Node's timers take (2^31-1 ms, ~24.8 days); longer ones fire after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A delay safe to hand to setTimeout/setInterval: at most MAX_TIMER_MS (a
 * longer one would fire at once, over and over), never negative or NaN.
 * Schemas bound every duration; this is the last line at each timer.
 */
export function timerDelay(ms: number): number {
  if (Number.isNaN(ms) || ms <= 0) return 0;
  return Math.min(ms, MAX_TIMER_MS);
}
