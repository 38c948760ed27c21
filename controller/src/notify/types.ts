/**
 * What the notifier sends and how it is configured: the event union (one
 * shape for every kind: rev, subject, hosts, reason, time, link) and the
 * resolved target options (secrets already read, see config.ts).
 */
import type { NOTIFY_EVENT_KINDS } from "../../../schemas/src/controller-config.js";

export type NotifyEventKind = (typeof NOTIFY_EVENT_KINDS)[number];

/** An operator action as the operator-action API records it ({id, action, rev, wave, host, reason, actor, time}). */
export interface OperatorActionInfo {
  id?: string | number;
  action: string;
  rev?: string | null;
  wave?: string | null;
  host?: string | null;
  reason: string;
  actor: string;
  time: string;
}

export interface NotifyEvent {
  /** Unique per event (receivers deduplicate retries by it). */
  id: string;
  kind: NotifyEventKind;
  /** The commit concerned, when there is one. */
  rev: string | null;
  /** The commit's subject line (shortened), or null. */
  subject: string | null;
  /** Hosts concerned: the failed hosts of a halt, the stalled or stale host, the host an action targets. */
  hosts: string[];
  /** Why, in words. */
  reason: string;
  /** When it happened (ISO 8601): the decision's effective time, the agent's event time, the last-seen time… */
  time: string;
  /** The dashboard (publicUrl/?rev=…) when publicUrl is set. */
  url: string | null;
  /** The wave, for wave-level facts (a halt names the wave that failed). */
  wave?: string;
  /** For operator-action: the recorded action. */
  action?: OperatorActionInfo;
}

export interface NotifyTargetOptions {
  name: string;
  url: string;
  format: "webhook" | "slack";
  secret: string | null;
  /** Null: every kind. */
  events: NotifyEventKind[] | null;
  timeoutMs: number;
}

export interface NotifyOptions {
  targets: NotifyTargetOptions[];
  maxAttempts: number;
  maxBackoffMs: number;
  queueSize: number;
  /** First retry delay (doubles each attempt). Default 1 s; tests shorten it. */
  minBackoffMs?: number;
}
