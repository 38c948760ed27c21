// The output tail's pure core: control characters out, secrets redacted (also
// as base64 and split across lines), capped to the last lines with a marker.
import { describe, expect, it } from "vitest";
import { capTail, redactNeedles, safeTail, secretNeedles, stripControl } from "./log-tail.js";

const SECRET = "hunter2-Zebra-9f8e7d";

describe("stripControl", () => {
  it("removes ANSI colour, cursor and OSC sequences, C0/C1 controls and bidi overrides, keeps tabs and newlines", () => {
    const raw = "\x1b[1;31merror:\x1b[0m build\tfailed\n\x1b]0;title\x07next\x07 line\x00\u009b2J\u202eevil\n";
    expect(stripControl(raw)).toBe("error: build\tfailed\nnext line2Jevil\n".replace("2J", ""));
  });
  it("keeps what follows a carriage return on its line (progress bars), and CRLF as a newline", () => {
    expect(stripControl("copying 10%\rcopying 100%\r\ndone\r\n")).toBe("copying 100%\ndone\n");
  });
});

describe("redaction", () => {
  const needles = secretNeedles([SECRET + "\n"]);
  it("replaces the value, its base64 at every alignment (standard and URL-safe)", () => {
    for (const prefix of ["", "x", "xy"]) {
      const b64 = Buffer.from(prefix + SECRET + "!").toString("base64");
      const out = redactNeedles(`token=${SECRET}; encoded=${b64}`, needles);
      expect(out).not.toContain(SECRET);
      expect(out).toContain("***");
      // No 8-character run of the value's base64 survives.
      const core = Buffer.from(SECRET).toString("base64").slice(4, 16);
      expect(out).not.toContain(core);
    }
    const url = Buffer.from("\xff\xfe" + SECRET, "latin1").toString("base64url");
    expect(redactNeedles(url, needles)).toContain("***");
  });
  it("catches a value split across lines, with indentation or nix's `> ` log prefix", () => {
    const text = `value: ${SECRET.slice(0, 7)}\n       > ${SECRET.slice(7)} end`;
    const out = redactNeedles(text, needles);
    expect(out.replace(/\s|>/g, "")).not.toContain(SECRET);
    expect(out).toContain("***");
  });
  it("redacts each line of a multi-line secret on its own", () => {
    const key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END KEY-----\n";
    const out = redactNeedles("printing line 2: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n", secretNeedles([key]));
    expect(out).toBe("printing line 2: ***\n");
  });
  it("ignores values shorter than 4 characters", () => {
    expect(secretNeedles(["ab", " x "])).toEqual([]);
  });
});

describe("capTail", () => {
  it("keeps the last whole lines within the byte cap and puts a marker first", () => {
    const text = Array.from({ length: 1000 }, (_, i) => `line ${i}`).join("\n");
    const t = capTail(text, 1024);
    expect(t.truncated).toBe(true);
    expect(Buffer.byteLength(t.text)).toBeLessThanOrEqual(1024);
    expect(t.text).toMatch(/^\[… earlier output cut: last \d+ of \d+ bytes kept\]\n/);
    expect(t.text.endsWith("line 999")).toBe(true);
    expect(t.text.split("\n")[1]).toMatch(/^line \d+$/);
  });
  it("leaves short text alone; one overlong line keeps its end; multibyte text never exceeds the cap", () => {
    expect(capTail("short", 100)).toEqual({ text: "short", truncated: false });
    const t = capTail("é".repeat(5000), 1000);
    expect(Buffer.byteLength(t.text)).toBeLessThanOrEqual(1000);
    expect(t.text).not.toContain("\uFFFD");
  });
  it("redacts before cutting, so a cut never leaves part of a secret", () => {
    const text = `${"x".repeat(90)}${SECRET}`;
    for (let cap = 70; cap < 130; cap++) {
      const t = safeTail(text, secretNeedles([SECRET]), cap);
      for (let i = 0; i + 6 <= SECRET.length; i++) expect(t.text).not.toContain(SECRET.slice(i, i + 6));
    }
  });
});
