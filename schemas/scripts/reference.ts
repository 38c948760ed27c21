/**
 * Writes the files derived from the fleet schema besides the JSON Schemas:
 * docs/fleet-reference.md and fleet-example/fleet.schema.json.
 * Run by `npm run generate`; reference.test.ts fails when they drift.
 */
import { writeFileSync } from "node:fs";
import { relative } from "node:path";
import { EXAMPLE_SCHEMA_PATH, REFERENCE_PATH, REPO_ROOT, renderExampleSchema, renderFleetReference } from "./reference-render.js";

writeFileSync(REFERENCE_PATH, renderFleetReference());
console.log(`wrote ${relative(REPO_ROOT, REFERENCE_PATH)}`);
writeFileSync(EXAMPLE_SCHEMA_PATH, renderExampleSchema());
console.log(`wrote ${relative(REPO_ROOT, EXAMPLE_SCHEMA_PATH)}`);
