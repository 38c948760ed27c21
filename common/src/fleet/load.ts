/**
 * Loading a fleet file: YAML parse (syntax errors, duplicate keys) → schema
 * (zod FleetFile) → normalisation rules → files the entries refer to. Every
 * problem comes back with its file, line, column and path inside the file,
 * all of them together rather than the first. Sources: a text, a directory
 * (`<dir>/fleet.yaml`) or a revision read through a GitMirror.
 */
import { access, readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { LineCounter, parseDocument, type Document } from "yaml";
import { FleetFile } from "../../../schemas/src/fleet.js";
import { describeIssue } from "./issue-messages.js";
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
export function loadFleetText(text: string, file: string): LoadResult {
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

  const checked = FleetFile.safeParse(data);
  if (!checked.success) {
    for (const issue of checked.error.issues) {
      for (const m of describeIssue(issue, FleetFile, data)) {
        issues.push({ severity: "error", file, ...parsed.at(m.path, m.anchor), path: formatPath(m.path), message: m.message });
      }
    }
    return { issues: sortIssues(dedupe(issues)) };
  }

  const normalized = normalizeFleet(checked.data);
  for (const i of normalized.issues) {
    issues.push({ severity: i.severity, file, ...parsed.at(i.path, "value"), path: formatPath(i.path), message: i.message });
  }
  const ok = !hasErrors(issues);
  return { ...(ok && normalized.fleet ? { fleet: normalized.fleet } : {}), file: checked.data, issues: sortIssues(issues) };
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
 * Loads `<dir>/fleet.yaml` from a work tree. Missing sopsFiles are warnings
 * here: a repo being edited may not have encrypted them yet. `label` names
 * the file in issues (default `<dir>/fleet.yaml`).
 */
export async function loadFleetDir(dir: string, opts: { label?: string } = {}): Promise<LoadResult> {
  const path = opts.label ?? join(dir, FLEET_FILE_NAME);
  let text: string;
  try {
    text = await readFile(join(dir, FLEET_FILE_NAME), "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { issues: [fileIssue(path, code === "ENOENT" ? `no ${FLEET_FILE_NAME} in ${resolve(dir)}; expected the fleet file at the root of the fleet repo` : `cannot read: ${(e as Error).message}`)] };
  }
  const result = loadFleetText(text, path);
  const exists = async (p: string) => access(join(dir, p)).then(() => true, () => false);
  return checkSopsFiles(result, path, exists, "warning", `in ${dirname(path)}/`, text);
}

/** What loadFleetAtRev needs of a GitMirror (any git dir works, bare or not). */
export interface RevisionReader {
  readFile(rev: string, path: string): Promise<Buffer | null>;
}

/**
 * Loads fleet.yaml as committed at `rev`. A missing file is an issue, not an
 * exception; a missing sopsFile is an error, since agents deploy exactly this.
 */
export async function loadFleetAtRev(mirror: RevisionReader, rev: string, path: string = FLEET_FILE_NAME): Promise<LoadResult> {
  const label = `${path}@${rev.slice(0, 12)}`;
  const bytes = await mirror.readFile(rev, path);
  if (bytes === null) return { issues: [fileIssue(label, `no ${path} at revision ${rev}; expected the fleet file at the root of the fleet repo`)] };
  const text = bytes.toString("utf8");
  const result = loadFleetText(text, label);
  const exists = async (p: string) => (await mirror.readFile(rev, p)) !== null;
  return checkSopsFiles(result, label, exists, "error", `at revision ${rev.slice(0, 12)}`, text);
}

/** `file:line:col  path  message` (warnings say so); the line and column are left out when 0. */
export function formatIssue(i: LocatedIssue): string {
  const where = i.line > 0 ? `${i.file}:${i.line}:${i.col}` : i.file;
  return [where, i.path || "-", `${i.severity === "warning" ? "warning: " : ""}${i.message}`].join("  ");
}
