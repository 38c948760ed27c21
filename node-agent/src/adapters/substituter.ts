/**
 * The Delivery port on git and nix:
 *
 *   release manifest  git fetch <remote> +refs/flotilla/releases/<rev>:… into the
 *                     agent's bare cache (the remote it already polls), then
 *                     git cat-file blob <ref>:release.json
 *   is it here?       nix path-info <path> (local store only; only when the
 *                     path exists on disk at all)
 *   realise           nix copy --from <cache> --option require-sigs true
 *                       --option trusted-public-keys "<every cache's key>" <path>
 *                     for each cache in order, until one has it
 *
 * `nix copy --from` with require-sigs refuses any path whose narinfo carries
 * no valid signature by one of the keys (tested on Nix 2.8, offline, for
 * file:// and http:// caches). Its stderr says which of the failures it was;
 * a tampered or unsigned narinfo stops at once (never "try the next cache").
 * After a successful copy the exact path must exist on disk.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import type { Logger } from "../../../common/src/log.js";
import { fetchRelease } from "../../../common/src/release/refs.js";
import { CachePathMissingError, CacheUnreachableError, NarinfoUntrustedError, SubstituteMismatchError } from "../errors.js";
import type { CacheRef, Delivery } from "../ports.js";
import { failureText, type Runner, type RunResult } from "./exec.js";

export interface NixDeliveryOptions {
  run: Runner;
  log: Logger;
  nix: string;
  git?: string;
  /** The agent's bare cache of the fleet repo. */
  gitDir: string;
  gitTimeoutMs: number;
  copyTimeoutMs: number;
}

export type CopyFailure = "untrusted" | "missing" | "unreachable";

/** What a failed `nix copy --from` means (pure; tested as such). */
export function classifyCopyFailure(r: Pick<RunResult, "stderr" | "timedOut">): CopyFailure {
  const e = r.stderr;
  if (/lacks a valid signature|no signature|signature .*(invalid|mismatch)/i.test(e)) return "untrusted";
  if (/no substituter that can build it|HTTP error 404/i.test(e)) return "missing";
  if (r.timedOut || /unable to download|couldn't connect|connection refused|could not resolve|timed out|HTTP error/i.test(e)) return "unreachable";
  return "missing";
}

/** The args of one `nix copy --from` (pure). */
export function copyFromArgs(cache: string, keys: string[], path: string): string[] {
  return ["copy", "--from", cache, "--option", "require-sigs", "true", "--option", "trusted-public-keys", keys.join(" "), "--option", "download-attempts", "3", "--option", "connect-timeout", "10", path];
}

export class NixDelivery implements Delivery {
  constructor(private readonly o: NixDeliveryOptions) {}

  fetchRelease(remote: string, rev: string): Promise<string | null> {
    return fetchRelease({ gitDir: this.o.gitDir, remote, rev, log: this.o.log, git: this.o.git, timeoutMs: this.o.gitTimeoutMs });
  }

  async has(path: string): Promise<boolean> {
    // Not on disk: certainly not valid, and no nix process to start (the usual case before a copy).
    if (!existsSync(path)) return false;
    const r = await this.o.run(this.o.nix, ["path-info", path], { timeoutMs: 60_000 });
    return r.exitCode === 0;
  }

  async realise(path: string, caches: CacheRef[], signal?: AbortSignal): Promise<{ cache: string }> {
    if (caches.length === 0) throw new CacheUnreachableError(`${path}: no caches are configured (fleet.yaml delivery.caches)`);
    const keys = [...new Set(caches.map((c) => c.publicKey))];
    const failures: { cache: string; kind: CopyFailure; detail: string }[] = [];
    for (const { url } of caches) {
      // A file:// cache without nix-cache-info is not there at all (nix would call the path "missing").
      if (url.startsWith("file://") && !existsSync(join(fileURLToPath(url.split("?")[0]!), "nix-cache-info"))) {
        failures.push({ cache: url, kind: "unreachable", detail: "no nix-cache-info (not a binary cache, or not mounted)" });
        continue;
      }
      const r = await this.o.run(this.o.nix, copyFromArgs(url, keys, path), { timeoutMs: this.o.copyTimeoutMs, signal });
      if (r.exitCode === 0) {
        // nix copy was asked for exactly this path; it must be on disk now (a cheap check, no nix process).
        if (!existsSync(path)) throw new SubstituteMismatchError(`nix copy --from ${url} succeeded but ${path} is not in the local store`);
        return { cache: url };
      }
      const kind = classifyCopyFailure(r);
      const detail = failureText(r, this.o.copyTimeoutMs);
      if (kind === "untrusted") {
        throw new NarinfoUntrustedError(`cache ${url} offers ${path} without a valid signature by a key in delivery.caches (${keys.map((k) => k.split(":")[0]).join(", ")}): ${detail}`);
      }
      failures.push({ cache: url, kind, detail });
      this.o.log.warn("cache cannot provide the path", { cache: url, path, kind });
    }
    const summary = failures.map((f) => `${f.cache}: ${f.kind} (${f.detail.split("\n").pop()})`).join("; ");
    if (failures.some((f) => f.kind === "missing")) throw new CachePathMissingError(`no cache has ${path}: ${summary}`);
    throw new CacheUnreachableError(`no cache answered for ${path}: ${summary}`);
  }
}
