/**
 * @module secrets/testing/interop
 * Test helper: locate and read the shared interop vectors
 * (`../shared/testdata/interop` beside the repo, as CI clones it).
 */
import path from "node:path";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const interopDir = path.resolve(repoRoot, "../shared/testdata/interop");
export const vector = (rel: string): string => path.join(interopDir, rel);
export const readVector = (rel: string): Buffer => readFileSync(vector(rel));

export interface ManifestSops {
  file: string;
  format: "yaml" | "json" | "dotenv" | "binary";
  identities: Array<{ file: string; recipientUsed: string }>;
  expected: string | null;
  macValid?: boolean;
  note?: string;
}

export interface Manifest {
  sops: ManifestSops[];
  age: Array<Record<string, string>>;
  sshToAge: string;
}

export const manifest = (): Manifest => JSON.parse(readVector("manifest.json").toString("utf8")) as Manifest;
