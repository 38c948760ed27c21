/**
 * Turns zod's issues about a fleet file into operator language: what was
 * expected, where (the path, and whether the value, its key or its parent is
 * to blame), and never the value of anything we do not recognise. Values are
 * quoted only when short tokens (an unknown `kind`), never wholesale.
 */
import type { z } from "zod";
import { fieldDescription, knownKeys, suggestKey } from "./schema-walk.js";
import type { Anchor, DataPath } from "./yaml-locate.js";

export interface PathMessage {
  path: DataPath;
  anchor: Anchor;
  message: string;
}

/** Why a required key matters, by path pattern (indexes written as []). */
const MISSING_HINTS: Record<string, string> = {
  version: "write `version: 1` at the top of fleet.yaml",
  hosts: "a fleet lists at least one host",
  "hosts[].name": "every host needs its name",
  "hosts[].hostKey": "every host needs its SSH host public key (the line in /etc/ssh/ssh_host_ed25519_key.pub)",
  "hosts[].user": "a legacy host needs its deploy user",
  "waves[].name": "every wave needs a name",
  "waves[].members": "a wave needs its members (host names, globs or tag:<tag>)",
  "checks[].on": "a check group needs the hosts it applies to",
  "checks[].checks": "a check group needs its checks",
  "secrets[].name": "every secret needs a name",
  "secrets[].sopsFile": "a secret needs the SOPS-encrypted file it comes from",
  "secrets[].hosts": "a secret needs the hosts that receive it",
  "policy.allowedSigners[].principal": "an allowed signer needs its principal (usually an email)",
  "policy.allowedSigners[].key": "an allowed signer needs its public key",
  "agent.selfUpdate.source": "self-update needs the pinned flake reference of the agent",
  "agent.selfUpdate.schedule": "self-update needs a cron schedule",
};
const CHECK_HINTS: Record<string, string> = {
  url: "an http check needs the URL to probe",
  port: "a tcp check needs the port to connect to",
  unit: "a systemd check needs the unit to look at",
  command: "a command check needs the argv to run",
};
const FORMAT_HINTS: Record<string, string> = {
  "waves[].maxUnavailable": 'expected a count such as 1 or a percentage from "0%" to "100%" such as "25%"',
  "checks[].checks[].name": "expected a check name: letters, digits, '_', '.', ':', '-'",
  "hosts[].checks[].name": "expected a check name: letters, digits, '_', '.', ':', '-'",
};

const pattern = (path: DataPath): string =>
  path.map((s) => (typeof s === "number" ? "[]" : `.${s}`)).join("").replace(/^\./, "");

function at(data: unknown, path: DataPath): unknown {
  let cur = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

function kindOf(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return "a string";
  if (typeof v === "number") return Number.isInteger(v) ? `the number ${v}` : `the fractional number ${v}`;
  if (typeof v === "boolean") return "true/false";
  return typeof v;
}

const EXPECTED: Record<string, string> = {
  object: "a mapping (key: value lines)",
  array: "a list",
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
};

/** A short token may be quoted back; anything longer or odd is described, not echoed. */
function quoteToken(v: unknown): string {
  if (typeof v === "string" && v.length <= 32 && /^[A-Za-z0-9_.:/@+-]*$/.test(v)) return ` "${v}"`;
  if (typeof v === "number" || typeof v === "boolean") return ` ${String(v)}`;
  return "";
}

function missing(path: DataPath, root: z.ZodType, data: unknown): string {
  const key = String(path[path.length - 1]);
  const p = pattern(path);
  const hint =
    MISSING_HINTS[p] ??
    (pattern(path.slice(0, -1)).endsWith("checks[]") ? CHECK_HINTS[key] : undefined) ??
    fieldDescription(root, path, data)?.replace(/\.$/, "");
  return `required key "${key}" is missing${hint ? `: ${hint}` : ""}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export function describeIssue(issue: z.core.$ZodIssue, root: z.ZodType, data: unknown): PathMessage[] {
  const path = issue.path as DataPath;
  const value = at(data, path);
  const own = (m: string): boolean => /^expected /.test(m);
  switch (issue.code) {
    case "unrecognized_keys": {
      const known = knownKeys(root, path, data);
      return issue.keys.map((k) => {
        const guess = suggestKey(k, known);
        const shown = k.length > 60 ? k.slice(0, 57) + "..." : k;
        const tail = guess ? ` (did you mean "${guess}"?)` : known.length ? `; expected one of ${known.join(", ")}` : "";
        return { path: [...path, k], anchor: "key" as const, message: `unknown key "${shown}"${tail}` };
      });
    }
    case "invalid_type": {
      if (value === undefined) return [{ path, anchor: "parent", message: missing(path, root, data) }];
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      const quoteHint = issue.expected === "string" && (typeof value === "number" || typeof value === "boolean") ? " (put it in quotes)" : "";
      const where = path.length === 0 ? " at the top of the fleet file" : "";
      return [{ path, anchor: "value", message: `expected ${expected}${where}, got ${kindOf(value)}${quoteHint}` }];
    }
    case "invalid_union": {
      const disc = (issue as { discriminator?: string }).discriminator;
      const options = (issue as { options?: unknown[] }).options;
      if (disc && options) {
        const expected = `expected one of ${options.map(String).join(", ")}`;
        if (value === undefined) return [{ path, anchor: "parent", message: `required key "${disc}" is missing: ${expected}` }];
        return [{ path, anchor: "value", message: `${expected}, got${quoteToken(value) || ` ${kindOf(value)}`}` }];
      }
      const hint = FORMAT_HINTS[pattern(path)];
      if (hint) return [{ path, anchor: "value", message: `${hint}, got ${kindOf(value)}` }];
      const branches = issue.errors.map((errs) => errs.map((e) => e.message).join("; "));
      return [{ path, anchor: "value", message: `expected one of: ${branches.join(" | ")}` }];
    }
    case "invalid_value": {
      if (value === undefined) return [{ path, anchor: "parent", message: missing(path, root, data) }];
      const values = issue.values.map((v) => String(v));
      const expected = values.length === 1 ? `expected ${values[0]}` : `expected one of ${values.join(", ")}`;
      const hint = pattern(path) === "version" ? " (the fleet file format version)" : "";
      return [{ path, anchor: "value", message: `${expected}${hint}, got${quoteToken(value) || ` ${kindOf(value)}`}` }];
    }
    case "invalid_format": {
      if (own(issue.message)) return [{ path, anchor: "value", message: issue.message }];
      if (issue.format === "url") return [{ path, anchor: "value", message: "expected an http:// or https:// URL" }];
      const hint = FORMAT_HINTS[pattern(path)];
      return [{ path, anchor: "value", message: hint ?? `expected ${fieldDescription(root, path, data) ?? `text matching ${(issue as { pattern?: string }).pattern ?? issue.format}`}` }];
    }
    case "too_small": {
      if (issue.origin === "array") return [{ path, anchor: "value", message: `expected at least ${plural(Number(issue.minimum), "item")}` }];
      if (issue.origin === "string") return [{ path, anchor: "value", message: Number(issue.minimum) === 1 ? "expected a non-empty string" : `expected at least ${issue.minimum} characters` }];
      const hint = FORMAT_HINTS[pattern(path)];
      return [{ path, anchor: "value", message: hint ? `${hint}, got ${String(value)}` : `expected a number ${issue.inclusive ? ">=" : ">"} ${issue.minimum}, got ${String(value)}` }];
    }
    case "too_big": {
      if (issue.origin === "array") return [{ path, anchor: "value", message: `expected at most ${plural(Number(issue.maximum), "item")}` }];
      if (issue.origin === "string") return [{ path, anchor: "value", message: `expected at most ${issue.maximum} characters` }];
      return [{ path, anchor: "value", message: `expected a number ${issue.inclusive ? "<=" : "<"} ${issue.maximum}, got ${String(value)}` }];
    }
    default:
      return [{ path, anchor: "value", message: own(issue.message) ? issue.message : `invalid value: ${issue.message}` }];
  }
}
