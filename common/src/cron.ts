/**
 * Cron expressions for `agent.selfUpdate.schedule`: parsing, validation and
 * the next matching time, in the host's local time. Pure; no I/O.
 *
 * Five fields (minute hour day-of-month month day-of-week) or six (a leading
 * second). Each field takes `*`, a number, a range `a-b`, a step `*\/n` or
 * `a-b/n` or `a/n`, and comma-separated lists of those; months and weekdays
 * also take English names (`jan`, `mon`; case-insensitive); weekday 7 is
 * Sunday like 0. When both day-of-month and day-of-week are restricted, a day
 * matches when either does (as in Vixie cron).
 *
 * Written here rather than taken from a library: the agent must stay small
 * in memory, and the library the agent used before formatted every tick
 * through Intl.DateTimeFormat, which maps ICU's data (+8 MB RSS).
 */

export interface CronSpec {
  readonly source: string;
  readonly seconds: ReadonlySet<number>;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly days: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  /** 0 = Sunday … 6 = Saturday. */
  readonly weekdays: ReadonlySet<number>;
  readonly daysRestricted: boolean;
  readonly weekdaysRestricted: boolean;
}

export type CronParse = { ok: true; spec: CronSpec } | { ok: false; error: string };

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

interface FieldDef {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
  /** Index of names[0]. */
  namesFrom?: number;
}

const FIELDS: Record<"second" | "minute" | "hour" | "day" | "month" | "weekday", FieldDef> = {
  second: { name: "second", min: 0, max: 59 },
  minute: { name: "minute", min: 0, max: 59 },
  hour: { name: "hour", min: 0, max: 23 },
  day: { name: "day of month", min: 1, max: 31 },
  month: { name: "month", min: 1, max: 12, names: MONTHS, namesFrom: 1 },
  weekday: { name: "day of week", min: 0, max: 7, names: WEEKDAYS, namesFrom: 0 },
};

function value(text: string, f: FieldDef): number | string {
  if (/^\d{1,2}$/.test(text)) {
    const n = Number(text);
    return n >= f.min && n <= f.max ? n : `${f.name} ${n} is outside ${f.min}-${f.max}`;
  }
  const i = f.names?.indexOf(text.toLowerCase()) ?? -1;
  if (i >= 0) return i + (f.namesFrom ?? 0);
  return `${f.name}: "${text}" is not a number${f.names ? " or a name such as " + f.names[0] : ""}`;
}

/** The values one field matches, or an error naming the field. */
function field(text: string, f: FieldDef): Set<number> | string {
  const out = new Set<number>();
  for (const part of text.split(",")) {
    const m = /^([^/]+)(?:\/(\d{1,2}))?$/.exec(part);
    if (!m) return `${f.name}: "${part}" is not a value, range or step`;
    const [, range, stepText] = m;
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) return `${f.name}: step ${stepText} must be at least 1`;
    let lo: number;
    let hi: number;
    if (range === "*") {
      lo = f.min;
      hi = f.max;
    } else {
      const bounds = range!.split("-");
      if (bounds.length > 2) return `${f.name}: "${range}" is not a range`;
      const a = value(bounds[0]!, f);
      if (typeof a === "string") return a;
      const b = bounds.length === 2 ? value(bounds[1]!, f) : stepText !== undefined ? f.max : a;
      if (typeof b === "string") return b;
      if (b < a) return `${f.name}: range ${range} runs backwards`;
      lo = a;
      hi = b;
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

export function parseCron(expr: string): CronParse {
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6) return { ok: false, error: `expected 5 or 6 fields, got ${parts[0] === "" ? 0 : parts.length}` };
  const [sec, min, hour, day, month, weekday] = parts.length === 6 ? parts : ["0", ...parts];
  const sets: Record<string, Set<number>> = {};
  for (const [key, text] of [["second", sec], ["minute", min], ["hour", hour], ["day", day], ["month", month], ["weekday", weekday]] as const) {
    const r = field(text!, FIELDS[key]);
    if (typeof r === "string") return { ok: false, error: r };
    sets[key] = r;
  }
  const weekdays = new Set([...sets.weekday!].map((d) => d % 7));
  return {
    ok: true,
    spec: {
      source: expr,
      seconds: sets.second!,
      minutes: sets.minute!,
      hours: sets.hour!,
      days: sets.day!,
      months: sets.month!,
      weekdays,
      daysRestricted: day !== "*" && !day!.startsWith("*/"),
      weekdaysRestricted: weekday !== "*" && !weekday!.startsWith("*/"),
    },
  };
}

function dayMatches(s: CronSpec, d: Date): boolean {
  const dom = s.days.has(d.getDate());
  const dow = s.weekdays.has(d.getDay());
  if (s.daysRestricted && s.weekdaysRestricted) return dom || dow;
  return dom && dow;
}

/**
 * The first time strictly after `after` that the expression matches, in local
 * time; null when none within ~8 years (e.g. "0 0 31 2 *"). Walks day by day,
 * then hour, minute, second, so it takes at most a few thousand steps.
 */
export function nextMatch(s: CronSpec, after: Date): Date | null {
  const t = new Date(after.getTime());
  t.setMilliseconds(0);
  t.setSeconds(t.getSeconds() + 1);
  const limit = after.getTime() + 8 * 366 * 86_400_000;
  while (t.getTime() <= limit) {
    if (!s.months.has(t.getMonth() + 1) || !dayMatches(s, t)) {
      t.setDate(t.getDate() + 1);
      t.setHours(0, 0, 0, 0);
      continue;
    }
    if (!s.hours.has(t.getHours())) {
      t.setHours(t.getHours() + 1, 0, 0, 0);
      continue;
    }
    if (!s.minutes.has(t.getMinutes())) {
      t.setMinutes(t.getMinutes() + 1, 0, 0);
      continue;
    }
    if (!s.seconds.has(t.getSeconds())) {
      t.setSeconds(t.getSeconds() + 1, 0);
      continue;
    }
    return t;
  }
  return null;
}
