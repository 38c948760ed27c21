/**
 * The agent's daemon does not load zod (13 MB of its ~55 MB budget, see
 * bench/RESULTS.md "Idle RSS"): it checks its config, the fleet file and the
 * controller's answers with the generated JSON Schemas (schemas/src/
 * agent-check.ts) and imports zod lazily, only to explain a rejection. This
 * walks the static imports from the agent's entry point and fails on the
 * first path that reaches a module importing zod.
 */
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** Value imports and re-exports (not `import type`, not dynamic `import()`). */
const STATIC = /^\s*(?:import|export)\s+(?!type\b)(?:[^;'"]*?\sfrom\s+)?["']([^"']+)["']/gm;

function staticImports(file: string): string[] {
  const src = readFileSync(file, "utf8");
  return [...src.matchAll(STATIC)].map((m) => m[1]!);
}

/** The first chain of static imports from `entry` to a bare specifier `pkg`, or null. */
function pathTo(entry: string, pkg: string): string[] | null {
  const seen = new Set<string>();
  const walk = (file: string, chain: string[]): string[] | null => {
    if (seen.has(file)) return null;
    seen.add(file);
    for (const spec of staticImports(file)) {
      if (spec === pkg || spec.startsWith(`${pkg}/`)) return [...chain, spec];
      if (!spec.startsWith(".")) continue;
      const next = resolve(dirname(file), spec.replace(/\.js$/, ".ts"));
      const found = walk(next, [...chain, relative(ROOT, next)]);
      if (found) return found;
    }
    return null;
  };
  return walk(entry, [relative(ROOT, entry)]);
}

describe("the agent's static module graph", () => {
  it("does not reach zod (validation uses the generated JSON Schemas)", () => {
    expect(pathTo(join(ROOT, "node-agent/src/main.ts"), "zod")).toBeNull();
  });
  it("the check can fail: the controller's config loader does reach zod", () => {
    expect(pathTo(join(ROOT, "controller/src/config.ts"), "zod")).not.toBeNull();
  });
});
