/**
 * Fast ISO-8601 timestamps for reports of 10,000 hosts: Date#toISOString and
 * Date.parse cost 1–2 µs each here, and a report formats or parses two per
 * host. Whole seconds are cached (hosts report in clusters), milliseconds
 * appended.
 */
const toIso = new Map<number, string>();
const fromIso = new Map<string, number>();

export function isoOf(ms: number): string {
  const sec = Math.floor(ms / 1000);
  let prefix = toIso.get(sec);
  if (prefix === undefined) {
    if (toIso.size > 50_000) toIso.clear();
    prefix = new Date(sec * 1000).toISOString().slice(0, 20);
    toIso.set(sec, prefix);
  }
  const frac = ms - sec * 1000;
  return `${prefix}${frac < 10 ? "00" : frac < 100 ? "0" : ""}${frac}Z`;
}

export function msOf(iso: string): number {
  // "YYYY-MM-DDTHH:MM:SS.mmmZ" (what isoOf writes): cache the seconds part.
  if (iso.length === 24 && iso.charCodeAt(19) === 46 && iso.charCodeAt(23) === 90) {
    const head = iso.slice(0, 19);
    let base = fromIso.get(head);
    if (base === undefined) {
      if (fromIso.size > 50_000) fromIso.clear();
      base = Date.parse(head + "Z");
      fromIso.set(head, base);
    }
    return base + Number(iso.slice(20, 23));
  }
  return Date.parse(iso);
}

/**
 * The one time style of every report (text, Markdown, dashboard, --watch):
 * relative times with one unit per magnitude, always spelled the same way —
 * "12 s ago", "3 min ago", "5 h ago", "2 d ago", "in 20 s" — and absolute
 * times to the second in UTC without milliseconds ("2026-01-01 12:00:05Z").
 */
export function relativeTime(ms: number, now: number): string {
  const d = ms - now;
  const s = Math.round(Math.abs(d) / 1000);
  const amount = s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : s < 172_800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86_400)} d`;
  if (s === 0) return "now";
  return d < 0 ? `${amount} ago` : `in ${amount}`;
}

/** An absolute time to the second, UTC: "2026-01-01 12:00:05Z". */
export function absoluteTime(ms: number): string {
  const iso = isoOf(ms);
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z`;
}

/** relativeTime of an ISO timestamp (null → "never"). */
export function relativeIso(iso: string | null | undefined, now: number, never = "never"): string {
  return iso ? relativeTime(msOf(iso), now) : never;
}
