/**
 * `flotilla logs HOST` as text: each stored output tail, oldest first (the
 * newest ends up next to the prompt), under a header naming time, seq,
 * revision, transition and step. Host-supplied text passes through visible()
 * (tabs become spaces), so a tail cannot drive the operator's terminal. Pure.
 */
import type { HostLogs } from "../../../schemas/src/api.js";
import { visible } from "./visible.js";

export function renderHostLogsText(logs: HostLogs): string {
  if (logs.entries.length === 0) return `no output tails stored for ${visible(logs.host)}\n`;
  const out: string[] = [];
  for (const e of [...logs.entries].reverse()) {
    const rev = e.rev ? e.rev.slice(0, 12) : "-";
    out.push(`=== ${e.time.replace(/\.\d{3}Z$/, "Z")}  seq ${e.seq}  ${rev}  ${e.phase}/${e.outcome}  step ${e.step}${e.truncated ? "  (truncated)" : ""}`);
    for (const line of e.text.split("\n")) out.push(visible(line.replace(/\t/g, "    ")));
    out.push("");
  }
  return out.join("\n");
}
