/**
 * Reboot coordination (fleet `reboot: {policy: auto}`), for a resting `done`
 * NixOS state whose generation needs a reboot. Each call does at most one
 * side-effecting step, and the state is saved between them:
 *
 *  1. inside the host's maintenance window, take the controller's reboot
 *     lease for the generation → save `reboot {generation, bootedBefore}`;
 *  2. run the reboot command (a port; default `systemctl reboot`) → save
 *     `issued`. A crash between 1 and 2 repeats the command, never skips it;
 *  3. after boot: the booted system is the expected generation → release
 *     the lease with it, report RebootVerified; it is something else →
 *     report RebootUnexpectedGeneration and release with what booted, which
 *     the controller keeps as a blocked lease (no other host reboots until
 *     this one recovers or an operator releases it). This host does not try
 *     again for that generation.
 *
 * No controller, no lease, no reboot: the safe default. Returns undefined
 * when coordination does not apply (then afterReboot's own checks run).
 */
import { REASONS } from "../../../schemas/src/conditions.js";
import { windowHold } from "../../../common/src/plan/window-hold.js";
import { step, type LoopContext, type Step } from "./context.js";
import type { AgentState } from "./phases.js";

type Done = Extract<AgentState["cycle"], { phase: "done" }>;

export async function coordinateReboot(ctx: LoopContext, state: AgentState, c: Done): Promise<Step | null | undefined> {
  const { deps } = ctx;
  const r = deps.reboots;
  const nixos = deps.systems.nixos;
  if (!r || !nixos.booted || c.target.kind !== "nixos") return undefined;
  const rev = c.target.rev;
  const rec = c.reboot;
  if (rec) {
    if (rec.failed) return undefined;
    const booted = await nixos.booted();
    if (booted === rec.generation) {
      const a = await r.lease.request("release", rec.generation, booted);
      if (!a?.granted) {
        deps.log.warn("booted the expected generation but could not release the reboot lease yet; trying again", { reason: a?.reason ?? "no answer" });
        return null;
      }
      const { reboot: _done, ...rest } = c;
      return step(ctx, state, { ...rest, needsReboot: false }, [
        { phase: "done", outcome: "succeeded", reason: REASONS.RebootVerified, rev, generation: c.generation, health: c.health, needsReboot: false, message: `rebooted into ${rec.generation}; reboot lease released` },
      ]);
    }
    if (booted !== rec.bootedBefore) {
      const a = await r.lease.request("release", rec.generation, booted ?? "unknown");
      const message = `rebooted, but booted ${booted ?? "an unknown system"} instead of ${rec.generation}; the reboot lease stays with this host and blocks further reboots (${a?.reason ?? "controller not reached"})`;
      deps.log.error("rebooted into an unexpected generation", { expected: rec.generation, booted });
      return step(ctx, state, { ...c, reboot: { ...rec, failed: true } }, [
        { phase: "done", outcome: "failed", blamed: false, reason: REASONS.RebootUnexpectedGeneration, rev, generation: c.generation, health: c.health, needsReboot: true, message },
      ]);
    }
    if (rec.issued) return null; // the reboot command ran; the machine has not gone down yet
    try {
      await r.rebooter.reboot();
    } catch (e) {
      deps.log.error("the reboot command failed; trying again at the next poll while the lease lasts", { error: (e as Error).message });
      return null;
    }
    return step(ctx, state, { ...c, reboot: { ...rec, issued: true } }, []);
  }
  if (!c.needsReboot || (await nixos.needsReboot?.(c.generation)) !== true) return undefined;
  const fleet = (await ctx.fleetAt(state.trustedHead ?? c.target.head)).fleet;
  const host = fleet?.hosts.find((h) => h.name === deps.settings.host);
  if (!fleet?.reboot?.auto.includes(deps.settings.host) || !host) return undefined;
  const held = windowHold(host, deps.clock.now().getTime());
  if (held) {
    deps.log.info("a reboot is needed; waiting for the maintenance window", { reason: held.reason });
    return null;
  }
  const a = await r.lease.request("take", c.generation);
  if (!a?.granted) {
    deps.log.info("a reboot is needed; no reboot lease yet", { reason: a?.reason ?? "controller not reached" });
    return null;
  }
  const bootedBefore = await nixos.booted();
  return step(ctx, state, { ...c, reboot: { generation: c.generation, bootedBefore } }, [
    { phase: "done", outcome: "succeeded", reason: REASONS.Rebooting, rev, generation: c.generation, health: c.health, needsReboot: true, message: `reboot lease taken (${a.reason}, expires ${a.expiresAt ?? "?"}); rebooting into ${c.generation}` },
  ]);
}
