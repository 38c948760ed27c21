/**
 * The zod half of loading a fleet file (load.ts): why data is not a
 * FleetFile, as messages located by path (issue-messages.ts), and the part of
 * the file that did pass, so the cross-field rules can still judge it. Loaded
 * lazily by load.ts, only when the JSON Schema check refuses the data.
 */
import type { z } from "zod";
import { FleetFile } from "../../../schemas/src/fleet.js";
import { describeIssue, type PathMessage } from "./issue-messages.js";
import type { Selectable } from "./selectors.js";
import type { DataPath } from "./yaml-locate.js";

export type SchemaResult =
  | { ok: true; data: FleetFile }
  | { ok: false; problems: PathMessage[]; partial: Salvaged | null };

export function schemaProblems(data: unknown): SchemaResult {
  const checked = FleetFile.safeParse(data);
  if (checked.success) return { ok: true, data: checked.data };
  return {
    ok: false,
    problems: checked.error.issues.flatMap((issue) => describeIssue(issue, FleetFile, data)),
    partial: salvage(data, checked.error.issues),
  };
}

const LIST_SECTIONS = ["hosts", "waves", "checks", "secrets"] as const;

export interface Salvaged {
  file: FleetFile;
  otherHosts: Selectable[];
  /** Maps a path inside `file` back to the path inside the data as written. */
  originalPath(path: DataPath): DataPath;
}

/**
 * The part of a fleet file that passed the schema: list entries (hosts,
 * waves, checks, secrets) and top-level sections without an issue. Null when
 * too little is left to judge (no valid host, or not a mapping at all).
 */
function salvage(data: unknown, schemaIssues: readonly z.core.$ZodIssue[]): Salvaged | null {
  if (data === null || typeof data !== "object" || Array.isArray(data)) return null;
  const bad = schemaIssues.map((i) => (i.code === "unrecognized_keys" ? i.keys.map((k) => [...i.path, k]) : [i.path])).flat() as DataPath[];
  if (bad.some((p) => p.length === 0)) return null;
  const badTop = new Set(bad.filter((p) => p.length === 1 || !LIST_SECTIONS.includes(p[0] as never)).map((p) => String(p[0])));
  const badEntry = (section: string, index: number) => bad.some((p) => p[0] === section && p[1] === index);
  const raw = data as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const kept: Record<string, number[]> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (LIST_SECTIONS.includes(key as never) && Array.isArray(value) && !bad.some((p) => p[0] === key && p.length === 1)) {
      kept[key] = value.map((_, i) => i).filter((i) => !badEntry(key, i));
      out[key] = kept[key]!.map((i) => value[i]);
    } else if (!badTop.has(key)) out[key] = value;
  }
  out.version = 1;
  const reparsed = FleetFile.safeParse(out);
  if (!reparsed.success) return null;
  const otherHosts: Selectable[] = [];
  if (Array.isArray(raw.hosts)) {
    raw.hosts.forEach((h, i) => {
      if (kept.hosts?.includes(i) || h === null || typeof h !== "object") return;
      const { name, tags } = h as { name?: unknown; tags?: unknown };
      if (typeof name === "string") otherHosts.push({ name, tags: Array.isArray(tags) ? tags.filter((t): t is string => typeof t === "string") : [] });
    });
  }
  return {
    file: reparsed.data,
    otherHosts,
    originalPath: (path) => {
      const [section, index, ...rest] = path;
      const map = typeof section === "string" ? kept[section] : undefined;
      return map && typeof index === "number" && map[index] !== undefined ? [section!, map[index]!, ...rest] : path;
    },
  };
}

