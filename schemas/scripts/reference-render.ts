/**
 * Renders docs/fleet-reference.md from the fleet file's JSON Schema (itself
 * generated from the zod FleetFile), after the hand-written introduction in
 * docs/fleet-reference.intro.md: one table per object (key, type, required,
 * description with defaults). Pure apart from reading the intro; used by
 * scripts/reference.ts (writes) and reference.test.ts (drift check).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { DURATION_PATTERN } from "../src/duration.js";
import { GIT_BRANCH_PATTERN, POSIX_NAME_PATTERN, SIGNER_PRINCIPAL_PATTERN, SYSTEMD_UNIT_PATTERN } from "../src/fleet-names.js";
import { FleetFile } from "../src/fleet.js";
import { renderJsonSchema } from "../src/registry.js";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const REFERENCE_PATH = join(REPO_ROOT, "docs", "fleet-reference.md");
export const INTRO_PATH = join(REPO_ROOT, "docs", "fleet-reference.intro.md");
/** fleet-example carries its own copy of the schema so a copied repo keeps editor completion. */
export const EXAMPLE_SCHEMA_PATH = join(REPO_ROOT, "fleet-example", "fleet.schema.json");

type Json = {
  type?: string | string[];
  properties?: Record<string, Json>;
  required?: string[];
  items?: Json;
  oneOf?: Json[];
  anyOf?: Json[];
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  format?: string;
  description?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  minLength?: number;
};

/** Names for the patterns of schemas/src/common.ts, instead of raw regular expressions. */
const NAMED_PATTERNS: Record<string, string> = {
  [DURATION_PATTERN.source]: "duration",
  [GIT_BRANCH_PATTERN.source]: "git branch name",
  [SIGNER_PRINCIPAL_PATTERN.source]: "principal (one token)",
  [POSIX_NAME_PATTERN.source]: "user/group name",
  [SYSTEMD_UNIT_PATTERN.source]: "systemd unit name",
  "^[0-9a-f]{40}$": "commit id (40 hex)",
  "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$": "host name",
  "^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]+={0,2}( .*)?$": "ssh-ed25519 public key",
  "^(tag:[A-Za-z0-9_.-]+|[A-Za-z0-9_.*?\\[\\]{},!-]+)$": "selector",
  "^0?[0-7]{3}$": 'octal mode ("0400")',
  "^(100|[1-9]?[0-9])%$": 'percentage ("25%", at most "100%")',
  "^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|sk-ssh-ed25519@openssh.com) [A-Za-z0-9+/]+={0,2}( .*)?$": "OpenSSH public key line",
};

interface Section {
  id: string;
  title: string;
  schema: Json;
}

const esc = (s: string): string => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
const anchor = (title: string): string => title.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

function discriminatorOf(branch: Json): string | undefined {
  for (const [k, v] of Object.entries(branch.properties ?? {})) if (v.const !== undefined) return `${k}: ${String(v.const)}`;
  return undefined;
}

class Renderer {
  private sections: Section[] = [];
  private seen = new Map<string, Section>();

  /** Registers an object schema as a section (once per distinct shape); returns it. */
  private section(title: string, schema: Json): Section {
    // The same object used in several places (health checks, hooks) is documented once.
    const { description: _ignored, ...shape } = schema;
    const key = JSON.stringify(shape);
    const prior = this.seen.get(key);
    if (prior) return prior;
    const s: Section = { id: anchor(title), title, schema };
    this.seen.set(key, s);
    this.sections.push(s);
    const prefix = title === "fleet.yaml" ? "" : `${title.replace(/ \(.*\)$/, "")}.`;
    for (const [k, v] of Object.entries(schema.properties ?? {})) this.type(`${prefix}${k}`, v);
    return s;
  }

  /** The type column for a value; registers the objects it contains. */
  type(path: string, s: Json): string {
    if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
    if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(" \\| ");
    const union = s.oneOf ?? s.anyOf;
    if (union) {
      return union
        .map((b) => {
          if (b.type === "object") {
            const d = discriminatorOf(b);
            const sec = this.section(d ? `${path} (${d})` : path, b);
            return `[${d ?? "object"}](#${sec.id})`;
          }
          return this.type(path, b);
        })
        .join(" or ");
    }
    if (s.type === "object") return `[object](#${this.section(path, s).id})`;
    if (s.type === "array") {
      const inner = s.items ? this.type(`${path}[]`, s.items) : "any";
      return `list of ${inner}${s.minItems ? ` (at least ${s.minItems})` : ""}`;
    }
    if (s.type === "string") {
      if (s.pattern) return NAMED_PATTERNS[s.pattern] ?? `string matching \`${s.pattern}\``;
      if (s.format === "uri") return "URL";
      return "string";
    }
    if (s.type === "integer" || s.type === "number") {
      const bounded = s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER;
      const range = s.minimum !== undefined && bounded ? ` ${s.minimum}–${s.maximum}` : s.minimum !== undefined ? ` ≥ ${s.minimum}` : "";
      return `${s.type === "integer" ? "integer" : "number"}${range}`;
    }
    if (s.type === "boolean") return "boolean";
    return String(s.type ?? "any");
  }

  render(root: Json): string {
    this.section("fleet.yaml", root);
    const out: string[] = [];
    for (const sec of this.sections) {
      out.push(`<a id="${sec.id}"></a>`, `### \`${sec.title}\``, "");
      if (sec.schema.description) out.push(sec.schema.description, "");
      out.push("| Key | Type | Required | Description |", "|---|---|---|---|");
      for (const [k, v] of Object.entries(sec.schema.properties ?? {})) {
        const required = (sec.schema.required ?? []).includes(k) ? "yes" : "";
        const prefix = sec.title === "fleet.yaml" ? "" : `${sec.title.replace(/ \(.*\)$/, "")}.`;
        out.push(`| \`${k}\` | ${esc(this.type(`${prefix}${k}`, v))} | ${required} | ${esc(v.description ?? v.items?.description ?? "")} |`);
      }
      out.push("");
    }
    return out.join("\n");
  }
}

const COMMON_TYPES = `## Value types

| Type | Written as |
|---|---|
| duration | one or more \`<number><unit>\` with unit \`ms\`, \`s\`, \`m\`, \`h\` or \`d\` (\`"90s"\`, \`"1h30m"\`), or \`"0"\` |
| commit id (40 hex) | a full lowercase git commit id |
| host name | lowercase letters, digits and \`-\`, 1–63 characters (an RFC 1123 label) |
| selector | a host name, a glob over host names (\`"web-*"\`) or \`"tag:<tag>"\` |
| ssh-ed25519 public key | the line of \`/etc/ssh/ssh_host_ed25519_key.pub\`: \`ssh-ed25519 AAAAC3Nza… [comment]\` |
| user/group name | a POSIX name: lowercase letters, digits, \`_\`, \`-\`, starting with a letter or \`_\`, at most 32 characters |
| systemd unit name | \`nginx.service\`, \`app@1.service\`: letters, digits and \`:_.\\@-\`, not starting with \`-\` |
| git branch name | a name \`git check-ref-format --branch\` accepts, such as \`main\` or \`release/prod\` |
| principal (one token) | the signer's identity (usually an email), no spaces, newlines, quotes, \`,\`, \`*\`, \`?\` or \`!\` |
| octal mode | a quoted string such as \`"0400"\` (unquoted, YAML reads a number) |
`;

export function renderFleetReference(): string {
  const json = z.toJSONSchema(FleetFile, { io: "input", target: "draft-2020-12" }) as Json;
  const intro = readFileSync(INTRO_PATH, "utf8").trimEnd();
  return [
    "<!-- Generated by `npm run generate` (schemas/scripts/reference.ts) from schemas/src/fleet.ts",
    "     and docs/fleet-reference.intro.md. Edit those, not this file. -->",
    "",
    intro,
    "",
    COMMON_TYPES,
    "## Keys",
    "",
    "Every object rejects keys it does not list. Defaults are filled in when the file is loaded.",
    "",
    new Renderer().render(json).trimEnd(),
    "",
  ].join("\n");
}

export function renderExampleSchema(): string {
  return renderJsonSchema("fleet", FleetFile);
}
