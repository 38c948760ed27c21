/**
 * Maintenance windows: is a window open at an instant, and when does it next
 * open? Pure (Intl only, no I/O, no clock of its own).
 *
 * A window is a set of weekly ranges on the wall clock of one IANA time zone.
 * The wall clock is what operators mean ("22:00 to 04:00 Berlin time"), so
 * "open" is judged on it, and daylight-saving changes fall out of that:
 *  - a gap (clocks jump forward 02:00 → 03:00): a range starting inside the
 *    skipped hour opens at the jump (03:00); a range lying entirely inside it
 *    does not open that day;
 *  - an overlap (clocks go back 03:00 → 02:00): a range over the repeated
 *    hour is open during both passes, so it may open twice that night.
 * A range whose `to` is earlier than its `from` crosses midnight: it starts on
 * one of its `days` and closes on the following day.
 */

export interface WindowRangeSpec {
  /** ISO weekdays the range starts on: 1 = Monday … 7 = Sunday. */
  days: number[];
  /** Minutes after local midnight, [fromMin, toMin) — toMin < fromMin crosses midnight; toMin may be 1440. */
  fromMin: number;
  toMin: number;
}

export interface WindowSpec {
  timeZone: string;
  ranges: WindowRangeSpec[];
  /** Where it was declared, for messages: `wave "web"`, `windows[0]`. */
  source: string;
}

export interface WindowState {
  open: boolean;
  /** When closed: the next instant it opens (epoch ms), null if it never opens within 9 days. */
  nextOpenMs: number | null;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric" });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True when `name` is a time zone this runtime knows (IANA names, "UTC"). */
export function isTimeZone(name: string): boolean {
  try {
    formatter(name);
    return true;
  } catch {
    return false;
  }
}

interface Wall {
  /** The wall-clock fields as if they were UTC (epoch ms of y-m-d h:m:s), seconds precision. */
  naiveMs: number;
  /** ISO weekday of the local date, 1 = Monday. */
  weekday: number;
  /** Minutes since local midnight (fractional). */
  minute: number;
}

function wall(timeZone: string, ms: number): Wall {
  const p: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(ms)) if (part.type !== "literal") p[part.type] = Number(part.value);
  const midnight = Date.UTC(p.year!, p.month! - 1, p.day!);
  const minute = p.hour! * 60 + p.minute! + p.second! / 60;
  const weekday = ((new Date(midnight).getUTCDay() + 6) % 7) + 1;
  return { naiveMs: midnight + Math.round(minute * MINUTE), weekday, minute };
}

/** The zone's offset from UTC at `ms` (local = utc + offset), to the second. */
function offsetAt(timeZone: string, ms: number): number {
  const s = Math.floor(ms / 1000) * 1000;
  return wall(timeZone, s).naiveMs - s;
}

const prevDay = (weekday: number) => (weekday === 1 ? 7 : weekday - 1);

function rangeOpen(r: WindowRangeSpec, w: Wall): boolean {
  if (r.fromMin < r.toMin) return r.days.includes(w.weekday) && w.minute >= r.fromMin && w.minute < r.toMin;
  return (r.days.includes(w.weekday) && w.minute >= r.fromMin) || (r.days.includes(prevDay(w.weekday)) && w.minute < r.toMin);
}

export function isOpen(win: WindowSpec, ms: number): boolean {
  const w = wall(win.timeZone, ms);
  return win.ranges.some((r) => rangeOpen(r, w));
}

/** Every instant whose wall clock reads `naiveMs` (none in a gap, two in an overlap). */
function instantsOf(timeZone: string, naiveMs: number): number[] {
  const out: number[] = [];
  for (const o of new Set([offsetAt(timeZone, naiveMs - 1.5 * DAY), offsetAt(timeZone, naiveMs + 1.5 * DAY), offsetAt(timeZone, naiveMs)])) {
    const t = naiveMs - o;
    if (wall(timeZone, t).naiveMs === naiveMs && !out.includes(t)) out.push(t);
  }
  return out.sort((a, b) => a - b);
}

/** Instants in [start, end) where the zone's offset changes (DST transitions), to the minute. */
function transitions(timeZone: string, start: number, end: number): number[] {
  const out: number[] = [];
  let prev = offsetAt(timeZone, start);
  for (let t = start + DAY / 4; t < end + DAY / 4; t += DAY / 4) {
    const o = offsetAt(timeZone, t);
    if (o === prev) continue;
    let lo = Math.floor((t - DAY / 4) / MINUTE); // offset = prev
    let hi = Math.ceil(t / MINUTE); // offset = o
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (offsetAt(timeZone, mid * MINUTE) === prev) lo = mid;
      else hi = mid;
    }
    out.push(hi * MINUTE);
    prev = o;
  }
  return out;
}

const HORIZON_DAYS = 9;

/** Open now? If not, when next (searching 9 days ahead: every weekly range recurs within that). */
export function windowState(win: WindowSpec, nowMs: number): WindowState {
  if (isOpen(win, nowMs)) return { open: true, nextOpenMs: null };
  // The window can only start being open where the wall clock reaches a
  // range's `from`, or where a DST transition jumps the clock into a range.
  const today = wall(win.timeZone, nowMs);
  const localMidnight = today.naiveMs - Math.round(today.minute * MINUTE);
  const candidates: number[] = transitions(win.timeZone, nowMs, nowMs + HORIZON_DAYS * DAY);
  for (let d = -1; d <= HORIZON_DAYS; d++) {
    const midnight = localMidnight + d * DAY;
    const weekday = ((new Date(midnight).getUTCDay() + 6) % 7) + 1;
    for (const r of win.ranges) {
      if (r.days.includes(weekday)) candidates.push(...instantsOf(win.timeZone, midnight + r.fromMin * MINUTE));
    }
  }
  let next: number | null = null;
  for (const c of candidates) if (c > nowMs && (next === null || c < next) && isOpen(win, c)) next = c;
  return { open: false, nextOpenMs: next };
}

/** "Mon 22:00 Europe/Berlin" style rendering of an instant on the window's clock, for reasons. */
export function formatLocal(win: WindowSpec, ms: number): string {
  const text = new Intl.DateTimeFormat("en-GB", { timeZone: win.timeZone, weekday: "short", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(ms);
  return `${text} ${win.timeZone}`;
}

/** Why a host waits for its window, for gate answers and agent events. */
export function windowReason(win: WindowSpec, state: WindowState): string {
  if (state.open) return `maintenance window (${win.source}) is open`;
  if (state.nextOpenMs === null) return `outside its maintenance window (${win.source}); it does not open in the next ${HORIZON_DAYS} days`;
  return `outside its maintenance window (${win.source}); opens at ${new Date(state.nextOpenMs).toISOString()} (${formatLocal(win, state.nextOpenMs)})`;
}
