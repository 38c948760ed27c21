/**
 * @module secrets/install/manifest
 * What a generation directory holds, minus the secrets: names, install paths,
 * ownership, modes and restart units. No content hashes (a hash of a short
 * secret is a brute-force oracle); change detection compares file bytes.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";

export const MANIFEST = ".flotilla-secrets.json";

export interface ManifestEntry {
  name: string;
  /** Extra install path (symlink to <root>/current/<name>), if declared. */
  path?: string | undefined;
  uid: number;
  gid: number;
  mode: number;
  restartUnits: string[];
}

export interface Manifest {
  generation: number;
  secrets: ManifestEntry[];
}

export async function readManifest(dir: string): Promise<Manifest | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dir, MANIFEST), "utf8")) as Manifest;
  } catch {
    return undefined;
  }
}
