/**
 * Writes schemas/generated/<name>.schema.json from the zod definitions.
 * `npm run generate`; schemas/src/generated.test.ts fails when they drift.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PUBLISHED, renderAgentSchemasModule, renderJsonSchema } from "../src/registry.js";

const outDir = join(dirname(fileURLToPath(import.meta.url)), "..", "generated");
mkdirSync(outDir, { recursive: true });
for (const [name, schema] of Object.entries(PUBLISHED)) {
  writeFileSync(join(outDir, `${name}.schema.json`), renderJsonSchema(name, schema));
  console.log(`wrote schemas/generated/${name}.schema.json`);
}
writeFileSync(join(outDir, "..", "src", "agent-schemas.generated.ts"), renderAgentSchemasModule());
console.log("wrote schemas/src/agent-schemas.generated.ts");
