/**
 * Zod issues about a config file (the agent's, the controller's) in the
 * fleet file's terms: `file:line:col  dotted.path  message`, with "did you
 * mean" for unknown keys (issue-messages.ts) and the position found in the
 * file's text (yaml-locate.ts; JSON is YAML, so both are located).
 */
import { LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { describeIssue } from "./issue-messages.js";
import { formatPath, locate } from "./yaml-locate.js";

export function locateConfigIssues(o: { text: string; file: string; schema: z.ZodType; data: unknown; issues: readonly z.core.$ZodIssue[] }): string[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(o.text, { lineCounter, uniqueKeys: false });
  return o.issues
    .flatMap((i) => describeIssue(i, o.schema, o.data))
    .map((m) => {
      const at = locate(doc, lineCounter, m.path, m.anchor);
      return `${o.file}:${at.line}:${at.col}  ${formatPath(m.path) || "(top level)"}  ${m.message}`;
    });
}
