import { describe, expect, it } from "vitest";
import { OperatorAuth, roleAllows } from "./auth.js";

describe("operator token roles", () => {
  const auth = new OperatorAuth(
    [
      { name: "ops", token: "operate-token-0123456789" },
      { name: "prometheus", token: "read-token-0123456789", role: "read" },
    ],
    false,
  );

  it("tokens default to operate; a read token is identified as read", () => {
    expect(auth.identify("operate-token-0123456789")).toEqual({ name: "ops", role: "operate" });
    expect(auth.identify("read-token-0123456789")).toEqual({ name: "prometheus", role: "read" });
    expect(auth.identify("read-token-012345678x")).toBeNull();
    expect(auth.identify(null)).toBeNull();
    expect(auth.check("read-token-0123456789")).toBe("prometheus");
  });

  it("read tokens may GET (status, audit, /metrics) and nothing that changes state", () => {
    for (const m of ["GET", "HEAD"]) expect(roleAllows("read", m)).toBe(true);
    for (const m of ["POST", "PUT", "PATCH", "DELETE"]) {
      expect(roleAllows("read", m)).toBe(false);
      expect(roleAllows("operate", m)).toBe(true);
    }
  });
});
