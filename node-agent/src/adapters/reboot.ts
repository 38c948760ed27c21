/**
 * Reboot coordination adapters: the signed lease request to the controller
 * (like the gate: anything but a valid answer is "no answer", and then the
 * host does not reboot), and the reboot command itself (default
 * `systemctl reboot`, `commands.reboot` in the agent config).
 */
import { randomBytes } from "node:crypto";
import { API_PREFIX } from "../../../schemas/src/api-constants.js";
import type { RebootLeaseAnswer, RebootLeaseRequest } from "../../../schemas/src/api.js";
import { check } from "../../../schemas/src/agent-check.js";
import type { HostSigner } from "../../../common/src/signing.js";
import type { Logger } from "../../../common/src/log.js";
import type { Clock, RebootLeaseClient, Rebooter } from "../ports.js";
import type { Runner } from "./exec.js";
import { httpCall } from "./http-client.js";

export class HttpRebootLease implements RebootLeaseClient {
  constructor(private readonly o: { signer: HostSigner; controller: () => string | null; clock: Clock; log: Logger; timeoutMs?: number }) {}

  async request(action: "take" | "release", generation: string, booted?: string): Promise<RebootLeaseAnswer | null> {
    const url = this.o.controller();
    if (!url) {
      this.o.log.info("no controller configured; no reboot lease, so no reboot");
      return null;
    }
    const q: RebootLeaseRequest = {
      type: "reboot-lease", host: this.o.signer.host, action, generation, ...(booted ? { booted } : {}), time: this.o.clock.now().toISOString(), nonce: randomBytes(12).toString("hex"),
    };
    try {
      const res = await httpCall(`${url}${API_PREFIX}/reboot-lease`, { method: "POST", json: this.o.signer.sign(JSON.stringify(q)), timeoutMs: this.o.timeoutMs ?? 10_000 });
      if (!res.ok) {
        this.o.log.warn("reboot lease request refused", { status: res.status, body: res.text.slice(0, 300) });
        return null;
      }
      const answer = await check<RebootLeaseAnswer>("reboot-lease-answer", JSON.parse(res.text));
      if (!answer.success || answer.data.host !== q.host) {
        this.o.log.warn("invalid reboot lease answer", { body: res.text.slice(0, 300) });
        return null;
      }
      this.o.log.info("reboot lease answer", { action, granted: answer.data.granted, reason: answer.data.reason });
      return answer.data;
    } catch (e) {
      this.o.log.warn("controller unreachable for the reboot lease", { error: (e as Error).message });
      return null;
    }
  }
}

export class CommandRebooter implements Rebooter {
  constructor(private readonly o: { run: Runner; argv: string[]; timeoutMs?: number }) {}

  async reboot(): Promise<void> {
    const [cmd, ...args] = this.o.argv;
    const r = await this.o.run(cmd!, args, { timeoutMs: this.o.timeoutMs ?? 60_000 });
    if (r.exitCode !== 0) throw new Error(`${this.o.argv.join(" ")} exited ${r.exitCode}${r.timedOut ? " (timed out)" : ""}: ${r.stderr.trim().slice(0, 500)}`);
  }
}
