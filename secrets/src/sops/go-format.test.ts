import { describe, expect, it } from "vitest";
import { goAtoi, goFormatFloat, goFormatFloatG, goParseBool, goParseFloat, goTimeMarshalText, goTimeRfc3339 } from "./go-format.js";
import { resolvePlain } from "./formats/yaml.js";

describe("Go formatting used by the MAC", () => {
  it("FormatFloat(v, 'f', -1, 64)", () => {
    const cases: Array<[number, string]> = [
      [0.75, "0.75"],
      [1, "1"],
      [-0, "-0"],
      [1e21, "1000000000000000000000"],
      [1.5e-7, "0.00000015"],
      [123456789.125, "123456789.125"],
      [Number.NaN, "NaN"],
      [Infinity, "+Inf"],
      [-Infinity, "-Inf"],
      [0.1 + 0.2, "0.30000000000000004"],
    ];
    for (const [v, s] of cases) expect(goFormatFloat(v)).toBe(s);
  });
  it("FormatFloat(v, 'g', -1, 64)", () => {
    expect(goFormatFloatG(1234567)).toBe("1.234567e+06");
    expect(goFormatFloatG(123456)).toBe("123456");
    expect(goFormatFloatG(0.00001)).toBe("1e-05");
    expect(goFormatFloatG(0.75)).toBe("0.75");
  });
  it("Atoi, ParseBool, ParseFloat", () => {
    expect(goAtoi("9223372036854775807")).toBe(9223372036854775807n);
    expect(goAtoi("9223372036854775808")).toBeUndefined();
    expect(goAtoi("+5")).toBe(5n);
    expect(goAtoi("1_000")).toBeUndefined();
    expect(goParseBool("True")).toBe(true);
    expect(goParseBool("yes")).toBeUndefined();
    expect(goParseFloat("1e400")).toBeUndefined();
    expect(goParseFloat(".5")).toBe(0.5);
    expect(goParseFloat("-Inf")).toBe(-Infinity);
  });
  it("time.MarshalText and RFC 3339 (lastmodified AAD)", () => {
    expect(goTimeMarshalText("2024-01-02T03:04:05.500000000+00:00")).toBe("2024-01-02T03:04:05.5Z");
    expect(goTimeMarshalText("2024-01-02T03:04:05+02:00")).toBe("2024-01-02T03:04:05+02:00");
    expect(goTimeRfc3339("2024-01-02T03:04:05.123Z")).toBe("2024-01-02T03:04:05Z");
    expect(goTimeRfc3339("2024-02-30T00:00:00Z")).toBeUndefined();
  });
});

describe("go-yaml v3 plain scalar resolution", () => {
  it("matches yaml.v3 decoding into interface{}", () => {
    expect(resolvePlain("1_000")).toEqual({ kind: "int", value: 1000n });
    expect(resolvePlain("0x1F")).toEqual({ kind: "int", value: 31n });
    expect(resolvePlain("0755")).toEqual({ kind: "int", value: 493n });
    expect(resolvePlain("0o17")).toEqual({ kind: "int", value: 15n });
    expect(resolvePlain("18446744073709551615")).toEqual({ kind: "int", value: 18446744073709551615n });
    expect(resolvePlain("1.5")).toEqual({ kind: "float", value: 1.5 });
    expect(resolvePlain("yes")).toEqual({ kind: "str", value: "yes" });
    expect(resolvePlain("True")).toEqual({ kind: "bool", value: true });
    expect(resolvePlain("~")).toEqual({ kind: "null" });
    expect(resolvePlain("2024-01-01")).toEqual({ kind: "str", value: "2024-01-01" });
    expect(resolvePlain(".inf")).toEqual({ kind: "float", value: Infinity });
  });
});
