/**
 * @module secrets/install/plan
 * Which secrets differ between two generation directories, and so which
 * units to restart: a secret is changed when its bytes, mode, owner or
 * install path differ; added and removed secrets count as changed.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Manifest } from "./manifest.js";

export interface SecretsPlan {
  generation: number;
  /** Generation `current` pointed to when the plan was made (undefined: first install). */
  previous: number | undefined;
  dir: string;
  added: string[];
  changed: string[];
  removed: string[];
  unchanged: string[];
  /** Units to restart (sorted, unique) because one of their secrets was added, changed or removed. */
  restartUnits: string[];
}

async function bytesOf(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch {
    return undefined;
  }
}

export async function diffManifests(fromDir: string | undefined, from: Manifest | undefined, toDir: string, to: Manifest): Promise<Omit<SecretsPlan, "generation" | "previous" | "dir">> {
  const before = new Map((from?.secrets ?? []).map((s) => [s.name, s]));
  const added: string[] = [];
  const changed: string[] = [];
  const unchanged: string[] = [];
  const units = new Set<string>();
  for (const s of to.secrets) {
    const old = before.get(s.name);
    before.delete(s.name);
    if (!old || !fromDir) {
      added.push(s.name);
      s.restartUnits.forEach((u) => units.add(u));
      continue;
    }
    const [a, b] = await Promise.all([bytesOf(path.join(fromDir, s.name)), bytesOf(path.join(toDir, s.name))]);
    const same = a !== undefined && b !== undefined && a.equals(b) && old.mode === s.mode && old.uid === s.uid && old.gid === s.gid && old.path === s.path;
    a?.fill(0);
    b?.fill(0);
    if (same) unchanged.push(s.name);
    else {
      changed.push(s.name);
      [...s.restartUnits, ...old.restartUnits].forEach((u) => units.add(u));
    }
  }
  const removed = [...before.keys()];
  for (const r of before.values()) r.restartUnits.forEach((u) => units.add(u));
  return { added, changed, removed, unchanged, restartUnits: [...units].sort() };
}
