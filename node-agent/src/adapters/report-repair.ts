/**
 * Pure changes to a queued report's payload (JSON text) that let a refused
 * report through, each leaving an honest trace in the report itself:
 *
 * - `shrinkPayload`: an event too large on its own (413) gets its long free
 *   text (message, error message, health details) cut, each cut field ending
 *   with a marker saying how much was kept; an output tail (`log`) keeps
 *   its last lines instead, with a marker line first. Nothing that decides the verdict
 *   (phase, outcome, reason, rev, generation, every health result's ok) is
 *   ever touched.
 * - `retimePayload`: a report stamped by a clock that ran ahead (400
 *   ClockSkew) gets `time` = the controller's clock, and keeps the refused
 *   stamp in `skewedTime`.
 */

const MARKER = / … \[truncated by flotilla-agent: (\d+) of (\d+) characters kept\]$/;
/** Fields are never cut below this many characters. */
export const MIN_FIELD_CHARS = 200;

function originalLength(text: string): number {
  const m = MARKER.exec(text);
  return m ? Number(m[2]) : text.length;
}

function bodyOf(text: string): string {
  return text.replace(MARKER, "");
}

/** `text` cut to `cap` characters of its own (original) content, with the marker. */
export function truncateText(text: string, cap: number): string {
  const body = bodyOf(text);
  if (body.length <= cap) return text;
  const kept = body.slice(0, cap);
  return `${kept} … [truncated by flotilla-agent: ${kept.length} of ${originalLength(text)} characters kept]`;
}

interface Shrinkable {
  message?: string;
  error?: { reason: string; message: string };
  health?: Array<{ detail?: string }>;
  log?: { step: string; text: string; truncated: boolean };
}

const TAIL_MARKER = /^\[… (?:earlier output cut|truncated by flotilla-agent): last \d+ of (\d+) (?:bytes|characters) kept\]\n/;

/** An output tail cut to its last `cap` characters of its own content (whole lines where possible), with a marker line first. */
export function truncateTail(text: string, cap: number): string {
  const m = TAIL_MARKER.exec(text);
  const body = m ? text.slice(m[0].length) : text;
  if (body.length <= cap) return text;
  const original = m ? Number(m[1]) : body.length;
  let kept = body.slice(body.length - cap);
  const nl = kept.indexOf("\n");
  if (nl >= 0 && nl < kept.length - 1) kept = kept.slice(nl + 1);
  return `[… truncated by flotilla-agent: last ${kept.length} of ${original} characters kept]\n${kept}`;
}

function tailBody(text: string): string {
  const m = TAIL_MARKER.exec(text);
  return m ? text.slice(m[0].length) : text;
}

/**
 * Halves the longest free-text fields of an event payload (every field longer
 * than half the longest one is cut to that length, never below
 * MIN_FIELD_CHARS). With every field at the floor, the output tail (`log`)
 * is dropped. Null when there is nothing left to cut:
 * heartbeats, or every field at the floor and no tail.
 */
export function shrinkPayload(payload: string): string | null {
  const m = JSON.parse(payload) as Shrinkable & { type?: string };
  if (m.type !== "event") return null;
  const lengths = [m.message, m.error?.message, ...(m.health ?? []).map((h) => h.detail)].filter((t): t is string => typeof t === "string").map((t) => bodyOf(t).length);
  if (m.log) lengths.push(tailBody(m.log.text).length);
  const longest = Math.max(0, ...lengths);
  const cap = Math.max(MIN_FIELD_CHARS, Math.floor(longest / 2));
  if (longest <= MIN_FIELD_CHARS) {
    // Every field is at the floor and the event is still too large: the output
    // tail is the one optional part, so it goes; the transition itself must arrive.
    if (!m.log) return null;
    // Nothing is added in its place: every byte counts against the limit that refused it.
    const { log: _dropped, ...rest } = m;
    return JSON.stringify(rest);
  }
  const cut = (t: string | undefined) => (t === undefined ? undefined : truncateText(t, cap));
  const next: Shrinkable = { ...m };
  if (m.message !== undefined) next.message = cut(m.message)!;
  if (m.error) next.error = { ...m.error, message: cut(m.error.message)! };
  if (m.health) next.health = m.health.map((h) => (h.detail === undefined ? h : { ...h, detail: cut(h.detail)! }));
  if (m.log) {
    // An output tail keeps its end (the error is at the bottom) and says it was cut.
    const text = truncateTail(m.log.text, cap);
    if (text !== m.log.text) next.log = { ...m.log, text, truncated: true };
  }
  return JSON.stringify(next);
}

/**
 * A payload whose `time` is more than `slackMs` after `nowIso` (the
 * controller's clock, which the HTTP Date header gives to the second) gets
 * `time` = `nowIso` and keeps its first refused stamp in `skewedTime`. Null
 * when its time is not ahead.
 */
export function retimePayload(payload: string, nowIso: string, slackMs = 1000): string | null {
  const m = JSON.parse(payload) as { time: string; skewedTime?: string };
  if (Date.parse(m.time) <= Date.parse(nowIso) + slackMs) return null;
  return JSON.stringify({ ...m, time: nowIso, skewedTime: m.skewedTime ?? m.time });
}
