/** A verified agent message → the row the store keeps. */
import type { AgentMessage } from "../../../schemas/src/api.js";
import { isFailure, isHealthyOn, isPendingRebootOn } from "../rollout/decide.js";
import type { NewMessage } from "../store/types.js";

export function verdictOf(message: AgentMessage): NewMessage["verdict"] {
  if (message.type !== "event" || !message.rev) return null;
  const observed = { ...message, timeMs: 0 };
  if (isFailure(observed)) return "failed";
  if (isHealthyOn(observed, message.rev)) return "healthy";
  if (isPendingRebootOn(observed, message.rev)) return "pendingReboot";
  return null;
}

/**
 * An event's output tail is stored apart (host_logs, capped per host), so the
 * messages table does not grow with it: the stored payload is the signed one
 * minus its `log` field (`sig` still verifies the payload as received).
 */
function withoutLog(payload: string, raw?: unknown): string {
  const { log: _log, ...rest } = (raw ?? JSON.parse(payload)) as Record<string, unknown>;
  return JSON.stringify(rest);
}

/** `raw`: JSON.parse(payload) when the caller has it already (ingest parsed it before the schema): not parsed again. */
export function toNewMessage(message: AgentMessage, payload: string, sig: string, receivedMs: number, raw?: unknown): NewMessage {
  const isEvent = message.type === "event";
  const log = isEvent ? message.log : undefined;
  return {
    host: message.host,
    seq: message.seq,
    type: message.type,
    timeMs: Date.parse(message.time),
    receivedMs,
    rev: isEvent ? message.rev : message.currentRev,
    phase: message.phase,
    outcome: isEvent ? message.outcome : null,
    reason: isEvent ? message.reason : null,
    generation: isEvent ? message.generation : message.currentGeneration,
    payload: log ? withoutLog(payload, raw) : payload,
    sig,
    verdict: verdictOf(message),
    message,
    ...(log ? { log } : {}),
  };
}
