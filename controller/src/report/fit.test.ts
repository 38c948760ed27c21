import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { clip, fitTable, fitWidths } from "./fit.js";

describe("fitTable", () => {
  const rows = [
    ["HOST", "REV", "MESSAGE"],
    ["web-0001.example", "0123456789ab", "activation failed: unit foo.service entered failed state"],
    ["db", "-", "ok"],
  ];

  it("leaves a table that fits alone", () => {
    expect(fitTable(rows, { width: 200 })).toBe(fitTable(rows));
    expect(fitTable(rows).split("\n")[1]).toBe("web-0001.example  0123456789ab  activation failed: unit foo.service entered failed state");
  });

  it("shrinks the widest column that may shrink, with an ellipsis, and keeps host and rev whole", () => {
    const out = fitTable(rows, { width: 50, keep: [0, 1] }).split("\n");
    expect(out[1]).toBe("web-0001.example  0123456789ab  activation failed…");
    expect(out[1]!.length).toBe(50);
    expect(out[0]).toBe("HOST              REV           MESSAGE");
    expect(out[2]).toBe("db                -             ok");
  });

  it("cuts lines at the width when even the shrunk table is too wide", () => {
    const out = fitTable(rows, { width: 20, keep: [0, 1] }).split("\n");
    for (const l of out) expect(l.length).toBeLessThanOrEqual(20);
    expect(out[1]).toBe("web-0001.example  0…");
  });

  it("never exceeds the width, never shrinks kept columns below their natural width", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 80 }), { minLength: 1, maxLength: 14 }), fc.integer({ min: 20, max: 200 }), (natural, width) => {
        const w = fitWidths(natural, { width, keep: [0] });
        expect(w[0]).toBe(natural[0]);
        for (let i = 0; i < w.length; i++) expect(w[i]).toBeLessThanOrEqual(natural[i]!);
        const total = w.reduce((a, b) => a + b, 0) + 2 * (w.length - 1);
        // either it fits, or every shrinkable column is at its minimum (or was narrower to begin with)
        if (total > width) for (let i = 1; i < w.length; i++) expect(w[i]).toBe(Math.min(natural[i]!, 5));
      }),
    );
  });

  it("clip", () => {
    expect(clip("abcdef", 6)).toBe("abcdef");
    expect(clip("abcdef", 4)).toBe("abc…");
    expect(clip("abcdef", 0)).toBe("");
  });
});

describe("fitTable priorities", () => {
  const rows = [
    ["HOST", "PIN", "PHASE", "MESSAGE"],
    ["web-1", "-", "verifying", "health check http://localhost/ answered 502 Bad Gateway"],
    ["web-2", "-", "done", "-"],
  ];
  it("leaves out columns with nothing to say before shrinking any", () => {
    const out = fitTable(rows, { width: 60, keep: [0] }).split("\n");
    expect(out[0]).toBe("HOST   PHASE      MESSAGE");
    expect(out[1]!.length).toBeLessThanOrEqual(60);
  });
  it("shrinks the flex columns first, and never a column below its header", () => {
    const out = fitTable(rows, { width: 40, keep: [0], flex: [3] }).split("\n");
    expect(out[1]).toBe("web-1  verifying  health check http://l…");
    const tight = fitTable(rows, { width: 22, keep: [0], flex: [3] }).split("\n");
    expect(tight[0]).toBe("HOST   PHASE   MESSAGE");
    expect(tight[1]).toBe("web-1  verif…  health…");
  });
});
