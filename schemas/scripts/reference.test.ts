import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { EXAMPLE_SCHEMA_PATH, REFERENCE_PATH, renderExampleSchema, renderFleetReference } from "./reference-render.js";

describe("files generated from the fleet schema", () => {
  it("docs/fleet-reference.md is current (run `npm run generate` if this fails)", () => {
    expect(readFileSync(REFERENCE_PATH, "utf8")).toBe(renderFleetReference());
  });

  it("fleet-example/fleet.schema.json is current (run `npm run generate` if this fails)", () => {
    expect(readFileSync(EXAMPLE_SCHEMA_PATH, "utf8")).toBe(renderExampleSchema());
  });

  it("documents every host kind, check type and defaults", () => {
    const doc = renderFleetReference();
    for (const s of ["hosts[] (kind: nixos)", "hosts[] (kind: legacy)", "(type: http)", "(type: tcp)", "(type: systemd)", "(type: command)", "`secrets[]`", "`waves[]`"]) {
      expect(doc).toContain(s);
    }
    expect(doc).toContain('Default "build-legacy".');
    expect(doc).toContain("| `version` | `1` | yes |");
  });
});
