/**
 * The fleet file's maintenance windows (`waves[].window`, `windows:`) and
 * reboot policy (`reboot:`), normalised per host. Pure; called by
 * normalize.ts, which reports the issues with the rest.
 *
 * Window precedence: a `windows` entry naming the host exactly beats one
 * matching it by glob or tag, which beats the window of the host's wave.
 * Reboot policy: an override naming the host exactly beats a glob or tag,
 * which beats `reboot.policy`. Two entries of the same precedence that
 * disagree about a host are an error (their order would otherwise decide).
 */
import type { MaintenanceWindow, RebootPolicy, WindowGroup } from "../../../schemas/src/fleet-windows.js";
import { WEEKDAYS } from "../../../schemas/src/names.js";
import { parseDuration } from "../../../schemas/src/duration.js";
import type { z } from "zod";
import { isTimeZone, type WindowSpec } from "../window/window.js";
import type { FleetIssue } from "./model.js";
import { isTagSelector, resolveSelector, type Selectable } from "./selectors.js";

type ErrorSink = (path: FleetIssue["path"], message: string) => void;

export interface RebootSpec {
  /** Hosts whose policy is `auto` (every other host: never). */
  auto: string[];
  maxConcurrent: number;
  timeoutMs: number;
}

const isExact = (sel: string) => !isTagSelector(sel) && !/[*?[\]{}!]/.test(sel);
const minutes = (t: string) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5));

/** A schema-valid window → its spec; reports an unknown zone or an empty range at `path`. */
export function windowSpec(w: MaintenanceWindow, source: string, path: FleetIssue["path"], error: ErrorSink): WindowSpec {
  if (!isTimeZone(w.timeZone)) error([...path, "timeZone"], `unknown time zone "${w.timeZone}": expected an IANA name such as "Europe/Berlin", "America/New_York" or "UTC"`);
  const ranges = w.ranges.map((r, ri) => {
    const fromMin = minutes(r.from);
    const toMin = minutes(r.to);
    if (fromMin === toMin) error([...path, "ranges", ri, "to"], `"to" equals "from" (${r.from}): the range would be empty; for a whole day write from "00:00" to "24:00"`);
    return { days: (r.days ?? WEEKDAYS).map((d) => WEEKDAYS.indexOf(d) + 1), fromMin, toMin };
  });
  return { timeZone: w.timeZone, ranges, source };
}

/** Each host's window (hosts without one are absent) and each wave's own. */
export function normalizeWindows(
  groups: z.infer<typeof WindowGroup>[] | undefined,
  waveWindows: { wave: string; index: number; members: string[]; window: MaintenanceWindow | undefined }[],
  hosts: readonly Selectable[],
  error: ErrorSink,
): { hosts: Map<string, WindowSpec>; waves: Map<number, WindowSpec> } {
  const out = new Map<string, WindowSpec>();
  const waves = new Map<number, WindowSpec>();
  for (const w of waveWindows) {
    if (!w.window) continue;
    const spec = windowSpec(w.window, `wave "${w.wave}"`, ["waves", w.index, "window"], error);
    waves.set(w.index, spec);
    for (const m of w.members) out.set(m, spec);
  }
  const chosen = new Map<string, { exact: boolean; at: number }>();
  (groups ?? []).forEach((g, gi) => {
    const spec = windowSpec(g, `windows[${gi}]`, ["windows", gi], error);
    g.on.forEach((sel, si) => {
      const matched = resolveSelector(sel, hosts);
      if (matched.length === 0) error(["windows", gi, "on", si], `window names "${sel}", which matches no host`);
      const exact = isExact(sel);
      for (const h of matched) {
        const prev = chosen.get(h);
        if (!prev || (exact && !prev.exact)) {
          chosen.set(h, { exact, at: gi });
          out.set(h, spec);
        } else if (prev.exact === exact && prev.at !== gi) {
          error(["windows", gi, "on", si], `host "${h}" gets a window here and from windows[${prev.at}]; name the host exactly in one of them to say which wins`);
        }
      }
    });
  });
  return { hosts: out, waves };
}

export function normalizeReboot(r: RebootPolicy | undefined, hosts: readonly Selectable[], error: ErrorSink): RebootSpec {
  const base = r?.policy ?? "never";
  const chosen = new Map<string, { exact: boolean; policy: "never" | "auto"; at: number }>();
  (r?.overrides ?? []).forEach((o, oi) => {
    o.on.forEach((sel, si) => {
      const matched = resolveSelector(sel, hosts);
      if (matched.length === 0) error(["reboot", "overrides", oi, "on", si], `reboot override names "${sel}", which matches no host`);
      const exact = isExact(sel);
      for (const h of matched) {
        const prev = chosen.get(h);
        if (!prev || (exact && !prev.exact)) chosen.set(h, { exact, policy: o.policy, at: oi });
        else if (prev.exact === exact && prev.policy !== o.policy) {
          error(["reboot", "overrides", oi, "on", si], `host "${h}" gets policy "${o.policy}" here and "${prev.policy}" from reboot.overrides[${prev.at}]; name the host exactly to say which wins`);
        }
      }
    });
  });
  return {
    auto: hosts.filter((h) => (chosen.get(h.name)?.policy ?? base) === "auto").map((h) => h.name),
    maxConcurrent: r?.maxConcurrent ?? 1,
    timeoutMs: parseDuration(r?.timeout ?? "15m"),
  };
}
