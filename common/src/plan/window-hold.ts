/**
 * Does a host's maintenance window hold it back from *starting* a deploy (or
 * a reboot) at `nowMs`? Pure; shared by the controller's gate (later waves)
 * and the agent's own poll (every wave, and whenever no controller answers),
 * so both judge a window the same way from the same fleet file.
 *
 * Not held: pinned hosts (a pin is an operator's explicit instruction) and
 * hosts without a window. Rollbacks never consult this: they are the agent's
 * own recovery, not a new deploy. A deploy started inside the window runs to
 * its end even if the window closes meanwhile.
 */
import type { HostSpec } from "../fleet/model.js";
import { windowReason, windowState } from "../window/window.js";

export interface WindowHold {
  reason: string;
  /** When the window next opens (epoch ms); null when not within the search horizon. */
  nextOpenMs: number | null;
}

export function windowHold(host: HostSpec | undefined, nowMs: number): WindowHold | null {
  if (!host?.window || host.pin) return null;
  const state = windowState(host.window, nowMs);
  if (state.open) return null;
  return { reason: windowReason(host.window, state), nextOpenMs: state.nextOpenMs };
}

/** How long a gate answer tells the agent to wait: until the opening, at least 1 s, at most 1 h (a new commit or fleet file may change it). */
export function windowRetryAfterMs(hold: WindowHold, nowMs: number): number {
  if (hold.nextOpenMs === null) return 3_600_000;
  return Math.min(3_600_000, Math.max(1_000, hold.nextOpenMs - nowMs));
}
