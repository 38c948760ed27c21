/**
 * The formats published as JSON Schema files under schemas/generated/.
 */
import { z } from "zod";
import { AgentConfig } from "./agent-config.js";
import { ControllerConfig } from "./controller-config.js";
import { AuditReport, GateAnswer, HostLogs, GateQuery, Heartbeat, Nudge, ReportAck, ReportBatch, SignedEnvelope, StatusReport, TransitionEvent, WatchQuery } from "./api.js";
import { FleetFile } from "./fleet.js";
import { ReleaseManifest, SignedRelease } from "./release.js";

export const PUBLISHED: Record<string, z.ZodType> = {
  fleet: FleetFile,
  "agent-config": AgentConfig,
  "controller-config": ControllerConfig,
  "signed-envelope": SignedEnvelope,
  "transition-event": TransitionEvent,
  heartbeat: Heartbeat,
  "report-batch": ReportBatch,
  "report-ack": ReportAck,
  "gate-query": GateQuery,
  "gate-answer": GateAnswer,
  "watch-query": WatchQuery,
  nudge: Nudge,
  "status-report": StatusReport,
  "audit-report": AuditReport,
  "host-logs": HostLogs,
  release: ReleaseManifest,
  "signed-release": SignedRelease,
};

export function renderJsonSchema(name: string, schema: z.ZodType): string {
  const json = z.toJSONSchema(schema, { io: "input", target: "draft-2020-12" }) as Record<string, unknown>;
  const out = { $id: `https://flotilla.dev/schemas/${name}.schema.json`, ...json };
  return JSON.stringify(out, null, 2) + "\n";
}
