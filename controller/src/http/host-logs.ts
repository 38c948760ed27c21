/**
 * GET /api/v1/hosts/{host}/logs?rev=&limit= : the output tails the controller
 * keeps for a host (newest first), as HostLogs (schemas/src/api.ts).
 */
import type { HostLogs } from "../../../schemas/src/api.js";
import { HttpError } from "../errors.js";
import type { Store } from "../store/types.js";
import { intParam } from "./query.js";

/** Most entries one answer carries (and the default). */
export const MAX_LOG_LIMIT = 1000;
const DEFAULT_LOG_LIMIT = 20;

export interface HostLogsQuery {
  rev?: string | undefined;
  limit?: string | undefined;
}

export async function hostLogs(store: Store, knownHost: (host: string) => Promise<boolean>, host: string, q: HostLogsQuery): Promise<HostLogs> {
  const limit = intParam(q.limit, "limit", 1, MAX_LOG_LIMIT) ?? DEFAULT_LOG_LIMIT;
  const rev = q.rev === undefined || q.rev === "" ? undefined : q.rev.toLowerCase();
  if (rev !== undefined && !/^[0-9a-f]{4,40}$/.test(rev)) {
    throw new HttpError(400, "InvalidQuery", `rev: expected a commit id or a prefix of one (4 to 40 hex digits), got ${JSON.stringify(q.rev!.slice(0, 50))}`, "rev");
  }
  const rows = await store.hostLogs(host, { ...(rev ? { rev } : {}), limit });
  if (rows.length === 0 && !(await knownHost(host))) throw new HttpError(404, "UnknownHost", `host "${host}" is not in the fleet file and has never reported`, "host");
  return {
    host,
    entries: rows.map((r) => ({
      time: new Date(r.timeMs).toISOString(),
      seq: r.seq,
      rev: r.rev,
      phase: r.phase as HostLogs["entries"][number]["phase"],
      outcome: r.outcome as HostLogs["entries"][number]["outcome"],
      step: r.step as HostLogs["entries"][number]["step"],
      text: r.text,
      truncated: r.truncated,
    })),
  };
}
