/**
 * Tampering with real sops output (sops-nix test asset, sops 3.7.1) and with
 * files we wrote: every edit is rejected, with the file, the path and what
 * was expected in the message.
 */
import { describe, expect, it } from "vitest";
import { decryptSopsFile } from "./reader.js";
import { encryptSopsFile } from "./writer.js";
import { loadIdentityFile } from "../identities/age-keys.js";
import { readVector, vector } from "../testing/interop.js";
import { MacMismatchError, MalformedValueError, UnknownValueTypeError } from "../errors.js";
import type { SopsFormat } from "./load.js";

const FILE = "sops-nix/secrets.yaml";
const original = readVector(FILE).toString("utf8");
const ids = () => loadIdentityFile(vector("sops-nix/age-keys.txt"));
const decrypt = async (text: string, format: SopsFormat = "yaml", file = FILE) =>
  decryptSopsFile(Buffer.from(text), { format, identities: await ids(), file });

const lines = original.split("\n");
const lineOf = (prefix: string) => lines.findIndex((l) => l.trimStart().startsWith(prefix));

describe("tampering with a real sops file is rejected", () => {
  it("the untouched file decrypts", async () => {
    await expect(decrypt(original)).resolves.toBeTruthy();
  });

  it("swapping list items → MAC mismatch (indices are not in the AAD, the MAC order is)", async () => {
    const i = lineOf("- ENC[");
    const l = [...lines];
    [l[i], l[i + 1]] = [l[i + 1]!, l[i]!];
    const err = await decrypt(l.join("\n")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MacMismatchError);
    expect((err as Error).message).toContain("sops-nix/secrets.yaml at sops.mac");
  });

  it("deleting a key → MAC mismatch", async () => {
    const l = lines.filter((_, i) => i !== lineOf("test_key:"));
    await expect(decrypt(l.join("\n"))).rejects.toBeInstanceOf(MacMismatchError);
  });

  it("editing a ciphertext → the value no longer authenticates, named by path", async () => {
    const text = original.replace("data:9YhsaXoxxdbLUzeWqA==", "data:9ZhsaXoxxdbLUzeWqA==");
    const err = await decrypt(text).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedValueError);
    expect((err as Error).message).toMatch(/sops-nix\/secrets\.yaml at nested\.test\.file: value does not decrypt .*"nested:test:file:"/);
  });

  it("moving a value to another key → rejected (key path is the AAD)", async () => {
    const a = lines[lineOf("test_key:")]!.split(": ")[1]!;
    const b = lines[lineOf("file:")]!.split(": ")[1]!;
    const text = original.replace(a, "X").replace(b, a).replace("test_key: X", `test_key: ${b}`);
    await expect(decrypt(text)).rejects.toBeInstanceOf(MalformedValueError);
  });

  it("changing lastmodified → the MAC cannot be opened", async () => {
    const text = original.replace('lastmodified: "2021-09-30T19:49:41Z"', 'lastmodified: "2021-09-30T19:49:42Z"');
    const err = await decrypt(text).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MacMismatchError);
    expect((err as Error).message).toMatch(/lastmodified "2021-09-30T19:49:42Z"/);
  });

  it("injecting a plaintext key → rejected, naming the key and never echoing the value", async () => {
    const err = await decrypt(`injected: hunter2-plain\n${original}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedValueError);
    expect((err as Error).message).toMatch(/at injected: expected an encrypted value/);
    expect((err as Error).message).not.toContain("hunter2-plain");
    await expect(decrypt(`injected: 12345\n${original}`)).rejects.toThrow(/found a plaintext int/);
    await expect(decrypt(`nested_unencrypted: visible\n${original}`)).rejects.toBeInstanceOf(MacMismatchError);
  });

  it("injecting a plaintext item into a list → rejected", async () => {
    const i = lineOf("- ENC[");
    const l = [...lines];
    l.splice(i, 0, "    - sneaky");
    await expect(decrypt(l.join("\n"))).rejects.toBeInstanceOf(MalformedValueError);
  });

  it("an unknown type → UnknownValueTypeError naming path and the allowed types", async () => {
    const text = original.replace("tag:OnonR98dn9CXh/LwlRwXIw==,type:str]", "tag:OnonR98dn9CXh/LwlRwXIw==,type:weird]");
    const err = await decrypt(text).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnknownValueTypeError);
    expect((err as Error).message).toMatch(/nested\.test\.file: unknown value type "weird"; expected one of str, int/);
  });

  it("a malformed ENC[...] → MalformedValueError", async () => {
    const text = original.replace(",iv:xBYQQpsC/Xq0wHXNcqmLxNs5yvG+yjBzcpdRpC+UJxs=", "");
    await expect(decrypt(text)).rejects.toThrow(/nested\.test\.file: expected an encrypted value: expected ENC\[AES256_GCM/);
    const bad64 = original.replace("data:9YhsaXoxxdbLUzeWqA==", "data:9Yh*saXoxxdbLUzeWqA==");
    await expect(decrypt(bad64)).rejects.toThrow(/data is not valid base64/);
  });

  it("an emptied MAC → rejected", async () => {
    const text = original.replace(/mac: ENC\[[^\]]*\]/, 'mac: ""');
    await expect(decrypt(text)).rejects.toThrow(/the file has no MAC/);
  });
});

describe("tampering with files we wrote (json, dotenv, binary)", () => {
  const recipients = ["age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw"];

  it("json: reordering keys → MAC mismatch", async () => {
    const enc = Buffer.from(await encryptSopsFile(Buffer.from('{"a": "1", "b": "2"}'), { format: "json", recipients })).toString();
    const j = JSON.parse(enc) as Record<string, unknown>;
    const swapped = JSON.stringify({ b: j["b"], a: j["a"], sops: j["sops"] });
    await expect(decrypt(swapped, "json", "x.json")).rejects.toBeInstanceOf(MacMismatchError);
  });

  it("dotenv: deleting a line → MAC mismatch; editing the flattened lastmodified → rejected", async () => {
    const enc = Buffer.from(await encryptSopsFile(Buffer.from("A=1\nB=2\n"), { format: "dotenv", recipients })).toString();
    await expect(decrypt(enc.split("\n").filter((l) => !l.startsWith("A=")).join("\n"), "dotenv", "x.env")).rejects.toBeInstanceOf(MacMismatchError);
    await expect(decrypt(enc.replace(/sops_lastmodified=\d{4}/, "sops_lastmodified=1999"), "dotenv", "x.env")).rejects.toBeInstanceOf(MacMismatchError);
  });

  it("binary: replacing data with another file's data → rejected", async () => {
    const a = JSON.parse(Buffer.from(await encryptSopsFile(Buffer.from("one"), { format: "binary", recipients })).toString()) as Record<string, unknown>;
    const b = JSON.parse(Buffer.from(await encryptSopsFile(Buffer.from("two"), { format: "binary", recipients })).toString()) as Record<string, unknown>;
    await expect(decrypt(JSON.stringify({ data: b["data"], sops: a["sops"] }), "binary", "x.bin")).rejects.toBeInstanceOf(MalformedValueError);
  });
});
