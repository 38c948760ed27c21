/**
 * Loading a fleet file: YAML parse (syntax errors, duplicate keys) → schema
 * (the generated JSON Schema; zod FleetFile explains a rejection) → normalisation rules → files the entries refer to. Every
 * problem comes back with its file, line, column and path inside the file,
 * all of them together rather than the first. Sources: a text, a directory
 * (`<dir>/fleet.yaml`) or a revision read through a GitMirror.
 */
import { access, open } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { LineCounter, parseDocument, type Document } from "yaml";
import type { FleetFile } from "../../../schemas/src/fleet.js";
import { accepts } from "../../../schemas/src/agent-check.js";
import type { Fleet } from "./model.js";
import { normalizeFleet } from "./normalize.js";
import { findDuplicateKeys, formatPath, locate, type Anchor, type DataPath } from "./yaml-locate.js";

export interface LocatedIssue {
  severity: "error" | "warning";
  /** The file as the caller named it (e.g. "fleet-example/fleet.yaml", "fleet.yaml@1a2b3c4d5e6f"). */
  file: string;
  /** 1-based; 0 when the problem is the file itself (missing, unreadable). */
  line: number;
  col: number;
  /** Path inside the file, e.g. "hosts[2].hostKey"; "" for the document as a whole. */
  path: string;
  message: string;
}

export interface LoadResult {
  /** The normalised fleet, present when there is no error. */
  fleet?: Fleet;
  /** The schema-valid file as written, present when it passed the schema. */
  file?: FleetFile;
  issues: LocatedIssue[];
}

export const FLEET_FILE_NAME = "fleet.yaml";

/**
 * The largest fleet file agents and `flotilla validate` read (1 MiB), checked
 * before parsing: a real fleet of a thousand hosts is ~300 KB, while parsing
 * a 20 MB file costs an agent over a gigabyte of memory.
 */
export const FLEET_FILE_MAX_BYTES = 1024 * 1024;

function tooLarge(file: string, size: number): LocatedIssue {
  return fileIssue(file, `the file is ${size} bytes; a fleet file may be at most ${FLEET_FILE_MAX_BYTES} bytes (1 MiB)`);
}

/** Offset of the first byte that is not part of well-formed UTF-8, or -1. */
function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    const n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
    }
    if (n === 2 && ((c === 0xe0 && b[i + 1]! < 0xa0) || (c === 0xed && b[i + 1]! > 0x9f))) return i;
    if (n === 3 && ((c === 0xf0 && b[i + 1]! < 0x90) || (c === 0xf4 && b[i + 1]! > 0x8f))) return i;
    i += n + 1;
  }
  return -1;
}

function lineColAt(bytes: Uint8Array, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) (line++, (start = i + 1));
  return { line, col: offset - start + 1 };
}

/**
 * Checks a fleet file's bytes (size, UTF-8, no NUL) and parses it. Agents
 * (loadFleetAtRev) and `flotilla validate` (loadFleetDir) both come through here.
 */
export async function loadFleetBytes(bytes: Uint8Array, file: string): Promise<LoadResult> {
  if (bytes.length > FLEET_FILE_MAX_BYTES) return { issues: [tooLarge(file, bytes.length)] };
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    return { issues: [{ severity: "error", file, ...lineColAt(bytes, bad), path: "", message: `not valid UTF-8 (byte 0x${bytes[bad]!.toString(16).padStart(2, "0")} at offset ${bad}); a fleet file is UTF-8 text` }] };
  }
  return loadFleetText(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"), file);
}

export function hasErrors(issues: readonly LocatedIssue[]): boolean {
  return issues.some((i) => i.severity === "error");
}

function sortIssues(issues: LocatedIssue[]): LocatedIssue[] {
  return issues.sort((a, b) => a.line - b.line || a.col - b.col);
}

function fileIssue(file: string, message: string): LocatedIssue {
  return { severity: "error", file, line: 0, col: 0, path: "", message };
}

interface Parsed {
  doc: Document;
  lineCounter: LineCounter;
  at(path: DataPath, anchor: Anchor): { line: number; col: number };
}

/** Parses and validates a fleet file's text. `file` only labels the issues. */
export async function loadFleetText(text: string, file: string): Promise<LoadResult> {
  const size = Buffer.byteLength(text, "utf8");
  if (size > FLEET_FILE_MAX_BYTES) return { issues: [tooLarge(file, size)] };
  const nul = text.indexOf("\0");
  if (nul >= 0) {
    const before = text.slice(0, nul);
    const line = before.split("\n").length;
    return { issues: [{ severity: "error", file, line, col: nul - before.lastIndexOf("\n"), path: "", message: "contains a NUL byte; a fleet file is text" }] };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false, strict: true });
  const parsed: Parsed = { doc, lineCounter, at: (path, anchor) => locate(doc, lineCounter, path, anchor) };
  const issues: LocatedIssue[] = [];

  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      issues.push({ severity: "error", file, line, col, path: "", message: `YAML syntax error: ${e.message.split("\n")[0]}` });
    }
    // A broken document parses into partial data; judging that would only add noise.
    return { issues: sortIssues(issues) };
  }
  for (const w of doc.warnings) {
    const { line, col } = lineCounter.linePos(w.pos[0]);
    issues.push({ severity: "warning", file, line, col, path: "", message: `YAML: ${w.message.split("\n")[0]}` });
  }
  for (const d of findDuplicateKeys(doc)) {
    const { line, col } = lineCounter.linePos(d.offset);
    const first = lineCounter.linePos(d.firstOffset);
    issues.push({
      severity: "error",
      file,
      line,
      col,
      path: formatPath(d.path),
      message: `duplicate key "${String(d.path[d.path.length - 1])}" (first at line ${first.line}); each key may appear once`,
    });
  }

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    issues.push({ severity: "error", file, line: 1, col: 1, path: "", message: `YAML could not be read: ${(e as Error).message}` });
    return { issues: sortIssues(issues) };
  }

  let checked: FleetFile;
  if (accepts("fleet", data)) checked = data as FleetFile;
  else {
    // zod is loaded only here, to explain a rejection (the agent's daemon never
    // loads it for a valid fleet file: schemas/src/agent-check.ts).
    const { schemaProblems } = await import("./schema-issues.js");
    const r = schemaProblems(data);
    if (r.ok) checked = r.data;
    else {
      for (const m of r.problems) issues.push({ severity: "error", file, ...parsed.at(m.path, m.anchor), path: formatPath(m.path), message: m.message });
      // The cross-field rules still judge the entries that did pass the schema,
      // so one run shows every problem (a wave naming a missing host is not
      // hidden behind a typo elsewhere).
      if (r.partial) {
        for (const i of normalizeFleet(r.partial.file, { otherHosts: r.partial.otherHosts }).issues) {
          const path = r.partial.originalPath(i.path);
          issues.push({ severity: i.severity, file, ...parsed.at(path, "value"), path: formatPath(path), message: i.message });
        }
      }
      return { issues: sortIssues(dedupe(issues)) };
    }
  }

  const normalized = normalizeFleet(checked);
  for (const i of normalized.issues) {
    issues.push({ severity: i.severity, file, ...parsed.at(i.path, "value"), path: formatPath(i.path), message: i.message });
  }
  const ok = !hasErrors(issues);
  return { ...(ok && normalized.fleet ? { fleet: normalized.fleet } : {}), file: checked, issues: sortIssues(issues) };
}

function dedupe(issues: LocatedIssue[]): LocatedIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.line}:${i.col}:${i.path}:${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Paths of secrets' sopsFiles that are safe to look up (relative, no ".."); the rest are rule errors already. */
function sopsFilesToCheck(file: FleetFile): { index: number; path: string }[] {
  return (file.secrets ?? [])
    .map((s, index) => ({ index, path: s.sopsFile }))
    .filter((s) => !s.path.startsWith("/") && !s.path.split("/").includes(".."));
}

/** Adds an issue for every secrets entry whose sopsFile does not exist; re-derives `fleet` from the result. */
async function checkSopsFiles(
  result: LoadResult,
  label: string,
  exists: (path: string) => Promise<boolean>,
  severity: LocatedIssue["severity"],
  where: string,
  text: string,
): Promise<LoadResult> {
  if (!result.file) return result;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false });
  const extra: LocatedIssue[] = [];
  for (const s of sopsFilesToCheck(result.file)) {
    if (await exists(s.path)) continue;
    const path: DataPath = ["secrets", s.index, "sopsFile"];
    extra.push({
      severity,
      file: label,
      ...locate(doc, lineCounter, path, "value"),
      path: formatPath(path),
      message: `sopsFile "${s.path}" does not exist ${where}; expected a SOPS-encrypted file committed to the fleet repo`,
    });
  }
  if (extra.length === 0) return result;
  const issues = sortIssues([...result.issues, ...extra]);
  const { fleet, ...rest } = result;
  return hasErrors(issues) ? { ...rest, issues } : { ...rest, ...(fleet ? { fleet } : {}), issues };
}

/**
 * Loads `<dir>/fleet.yaml` from a work tree. A missing sopsFile is an error,
 * as at a revision: agents would refuse the commit. `label` names the file in
 * issues (default `<dir>/fleet.yaml`).
 */
export async function loadFleetDir(dir: string, opts: { label?: string } = {}): Promise<LoadResult> {
  const path = opts.label ?? join(dir, FLEET_FILE_NAME);
  let bytes: Buffer;
  try {
    const handle = await open(join(dir, FLEET_FILE_NAME), "r");
    try {
      const { size } = await handle.stat();
      if (size > FLEET_FILE_MAX_BYTES) return { issues: [tooLarge(path, size)] };
      bytes = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { issues: [fileIssue(path, code === "ENOENT" ? `no ${FLEET_FILE_NAME} in ${resolve(dir)}; expected the fleet file at the root of the fleet repo` : `cannot read: ${(e as Error).message}`)] };
  }
  const result = await loadFleetBytes(bytes, path);
  const text = bytes.toString("utf8");
  const exists = async (p: string) => access(join(dir, p)).then(() => true, () => false);
  return checkSopsFiles(result, path, exists, "error", `in ${dirname(path)}/`, text);
}

/** What loadFleetAtRev needs of a GitMirror (any git dir works, bare or not). */
export interface RevisionReader {
  readFile(rev: string, path: string): Promise<Buffer | null>;
}

/**
 * Loads fleet.yaml as committed at `rev`. A missing file is an issue, not an
 * exception; a missing sopsFile is an error, since agents deploy exactly this.
 */
export async function loadFleetAtRev(mirror: RevisionReader, rev: string, path: string = FLEET_FILE_NAME, opts: { branch?: string } = {}): Promise<LoadResult> {
  const label = `${path}@${rev.slice(0, 12)}`;
  const bytes = await mirror.readFile(rev, path);
  if (bytes === null) return { issues: [fileIssue(label, `no ${path} at revision ${rev}; expected the fleet file at the root of the fleet repo`)] };
  const result = await loadFleetBytes(bytes, label);
  const text = bytes.toString("utf8");
  const exists = async (p: string) => (await mirror.readFile(rev, p)) !== null;
  const checked = await checkSopsFiles(result, label, exists, "error", `at revision ${rev.slice(0, 12)}`, text);
  return opts.branch === undefined ? checked : checkBranch(checked, opts.branch, label, text);
}

/**
 * policy.branch names the branch the fleet rolls out from. An agent or a
 * controller that follows another branch (its own configuration's `branch`)
 * refuses the file rather than silently ignoring the setting.
 */
function checkBranch(result: LoadResult, followed: string, label: string, text: string): LoadResult {
  if (!result.file) return result;
  const declared = result.file.policy?.branch ?? "main";
  if (declared === followed) return result;
  const where = result.file.policy?.branch ? ["policy", "branch"] : result.file.policy ? ["policy"] : [];
  const issue = issueLocator(text, label)(
    "error",
    where,
    `policy.branch is "${declared}"${result.file.policy?.branch ? "" : " (the default)"} but this revision was read from branch "${followed}", which the agent or controller is configured to follow; make them agree (set policy.branch, or the configured branch)`,
  );
  const { fleet: _dropped, ...rest } = result;
  return { ...rest, issues: sortIssues([...result.issues, issue]) };
}

/**
 * Issues about a fleet file's text found outside this module (the validate
 * command's git, Nix and SOPS checks), located like every other issue.
 */
export function issueLocator(text: string, file: string): (severity: LocatedIssue["severity"], path: DataPath, message: string) => LocatedIssue {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false });
  return (severity, path, message) => ({ severity, file, ...locate(doc, lineCounter, path, "value"), path: formatPath(path), message });
}

/** `file:line:col  path  message` (warnings say so); the line and column are left out when 0. */
export function formatIssue(i: LocatedIssue): string {
  const where = i.line > 0 ? `${i.file}:${i.line}:${i.col}` : i.file;
  return [where, i.path || "-", `${i.severity === "warning" ? "warning: " : ""}${i.message}`].join("  ");
}
