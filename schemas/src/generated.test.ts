import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { PUBLISHED, renderAgentSchemasModule, renderJsonSchema } from "./registry.js";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "generated");

describe("generated JSON Schemas", () => {
  for (const [name, schema] of Object.entries(PUBLISHED)) {
    it(`${name}.schema.json is current (run \`npm run generate\` if this fails)`, () => {
      const committed = readFileSync(join(dir, `${name}.schema.json`), "utf8");
      expect(committed).toBe(renderJsonSchema(name, schema));
    });
  }
  it("agent-schemas.generated.ts is current (run `npm run generate` if this fails)", () => {
    expect(readFileSync(join(dirname(fileURLToPath(import.meta.url)), "agent-schemas.generated.ts"), "utf8")).toBe(renderAgentSchemasModule());
  });
});
