import { describe, expect, it } from "vitest";
import { visible, visibleLines } from "./visible.js";

describe("visible", () => {
  it("escapes C0, DEL, C1, line separators and bidi overrides; keeps printable text and other Unicode", () => {
    expect(visible("a\x1b[31mred\x1b]0;title\x07\x9b2J\x00\x7f")).toBe("a\\x1b[31mred\\x1b]0;title\\x07\\x9b2J\\x00\\x7f");
    expect(visible("l1\r\nl2\tx")).toBe("l1\\r\\nl2\\tx");
    expect(visible("evil\u202etxt.exe\u2066\u2028")).toBe("evil\\u202etxt.exe\\u2066\\u2028");
    expect(visible("héllo — ✓ 日本 |pipe| \\x1b literal")).toBe("héllo — ✓ 日本 |pipe| \\x1b literal");
  });

  it("visibleLines keeps the document's own line breaks", () => {
    expect(visibleLines("row \x1b[2J\nrow 2\r\n")).toBe("row \\x1b[2J\nrow 2\\r\n");
  });
});
