// In-memory SelfUpdatePorts (used by the unit tests): out paths, a profile,
// the record, the wrapper's failed= and the reported events, all in memory.
import type { EventDraft } from "../loop/events.js";
import { EMPTY_RECORD, type SelfTestResult, type SelfUpdatePorts, type SelfUpdateRecord } from "./types.js";

export class MemoryPorts implements SelfUpdatePorts {
  events: EventDraft[] = [];
  record: SelfUpdateRecord = { ...EMPTY_RECORD };
  profile: string | null = "/nix/store/v1";
  profileSets: string[] = [];
  builds = 0;
  buildResult: string | Error = "/nix/store/v2";
  selfTestResult: SelfTestResult = { ok: true, version: "2.0.0", detail: '{"ok":true,"version":"2.0.0"}' };
  wrapperFailedPath: string | null = null;
  failSetProfile = false;
  time = Date.parse("2026-01-01T00:00:00Z");

  async build(): Promise<string> {
    this.builds++;
    if (this.buildResult instanceof Error) throw this.buildResult;
    this.time += 1000;
    return this.buildResult;
  }
  async selfTest(): Promise<SelfTestResult> {
    return this.selfTestResult;
  }
  async profileTarget(): Promise<string | null> {
    return this.profile;
  }
  async setProfile(path: string): Promise<void> {
    if (this.failSetProfile) throw new Error("nix-env: permission denied");
    this.profileSets.push(path);
    this.profile = path;
  }
  async loadRecord(): Promise<SelfUpdateRecord> {
    return structuredClone(this.record);
  }
  async saveRecord(r: SelfUpdateRecord): Promise<void> {
    this.record = structuredClone(r);
  }
  async wrapperFailed(): Promise<string | null> {
    return this.wrapperFailedPath;
  }
  async report(d: EventDraft): Promise<void> {
    this.events.push(d);
  }
  now(): Date {
    return new Date(this.time);
  }
  story(): string[] {
    return this.events.map((e) => `${e.outcome}/${e.reason}`);
  }
}
