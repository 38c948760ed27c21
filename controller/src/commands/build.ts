/**
 * `flotilla build [DIR] [--rev REV] --cache URL… --signing-key FILE
 *  --builder-key FILE [--builder-name NAME] [--publish [--remote R]] [--json]`
 *
 * Build once: builds every host's system at REV of the fleet repo DIR
 * (controller/src/build/builder.ts), signs the closures with the Nix signing
 * key, copies them to each cache, signs a release manifest with the builder's
 * ed25519 key and stores it under refs/flotilla/releases/<rev> in DIR's
 * repository (common/src/release/refs.ts); --publish pushes that ref to the
 * remote the agents poll. Progress goes to stderr, the result to stdout.
 */
import { hostname, userInfo } from "node:os";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { execa } from "execa";
import { formatIssue, hasErrors, loadFleetAtRev } from "../../../common/src/fleet/load.js";
import { GitMirror } from "../../../common/src/git/mirror.js";
import { gitSaid } from "../../../common/src/git/run.js";
import { createLogger } from "../../../common/src/log.js";
import { signRelease } from "../../../common/src/release/manifest.js";
import { publishRelease, releaseRef, writeRelease } from "../../../common/src/release/refs.js";
import { ed25519FromOpenSsh } from "../../../common/src/signing.js";
import type { ReleaseManifest } from "../../../schemas/src/release.js";
import { BuildStepError, buildFleet, nixRunner } from "../build/builder.js";
import { parseCommandArgs, UsageError } from "./args.js";
import type { CommandIO } from "./io.js";

const HELP = `usage: flotilla build [DIR] [--rev REV] --cache URL [--cache URL…]
                      --signing-key FILE --builder-key FILE [--builder-name NAME]
                      [--publish [--remote REMOTE]] [--json]

Builds every host's system of the fleet repo DIR (default: the current
directory) at REV (default HEAD) with nix, signs the closures with the Nix
signing key, copies them to each cache, and records a release manifest signed
with the builder key under refs/flotilla/releases/<rev> in DIR's repository.
Hosts whose fleet.yaml says delivery "substitute" then fetch their system
from the caches instead of building it (docs/delivery.md).

options:
  --rev REV           a commit, branch or tag (default HEAD)
  --cache URL         a Nix binary cache to copy to: file:///srv/cache,
                      http(s)://host (PUT), s3://bucket?region=…, ssh://host;
                      repeatable
  --signing-key FILE  Nix secret key (nix key generate-secret) that signs the paths
  --builder-key FILE  OpenSSH ed25519 private key that signs the manifest; its
                      public key must be listed in fleet.yaml delivery.builders
  --builder-name NAME recorded in the manifest (default user@hostname)
  --publish           push the release ref to REMOTE, where the agents look
  --remote REMOTE     a remote name or URL (default origin)
  --json              print the signed manifest instead of the table
  -h, --help          this text

exit status: 0 built (and published), 1 a build, copy or push failed or
fleet.yaml is invalid at REV (nothing published), 2 bad usage
`;

class BuildCommandError extends Error {
  override name = "BuildCommandError";
}

async function git(cwd: string, args: string[]): Promise<string> {
  const r = await execa("git", args, { cwd, reject: false, env: { LC_ALL: "C", GIT_TERMINAL_PROMPT: "0" } });
  if (r.exitCode !== 0) throw new BuildCommandError(`git ${args.join(" ")} failed in ${cwd}: ${gitSaid(String(r.stderr))}`);
  return String(r.stdout).trim();
}

function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const parsed = parseCommandArgs({
      args: argv,
      allowPositionals: true,
      options: {
        rev: { type: "string" },
        cache: { type: "string", multiple: true },
        "signing-key": { type: "string" },
        "builder-key": { type: "string" },
        "builder-name": { type: "string" },
        publish: { type: "boolean" },
        remote: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }, "build");
  const v = parsed.values;
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const usage = (m: string): never => {
    throw new UsageError(m, "build");
  };
  if (parsed.positionals.length > 1) return usage(`expected at most one DIR, got ${parsed.positionals.length}`);
  if (!v.cache?.length) return usage("--cache URL is required (at least one binary cache)");
  if (!v["signing-key"]) return usage("--signing-key FILE is required (a Nix secret key)");
  if (!v["builder-key"]) return usage("--builder-key FILE is required (an OpenSSH ed25519 private key)");
  const dir = resolve(io.cwd, parsed.positionals[0] ?? ".");
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
  try {
    const keyText = await readFile(resolve(io.cwd, v["builder-key"])).catch((cause: NodeJS.ErrnoException) => {
      throw new BuildCommandError(`cannot read --builder-key ${v["builder-key"]}: ${cause.code ?? String(cause)}`);
    });
    const signer = ed25519FromOpenSsh(keyText, `--builder-key ${v["builder-key"]}`);
    const inside = await execa("git", ["rev-parse", "--is-inside-work-tree"], { cwd: dir, reject: false });
    if (inside.exitCode !== 0) throw new BuildCommandError(`${dir} is not a git work tree; flotilla build builds a committed revision of the fleet repo`);
    const top = await git(dir, ["rev-parse", "--show-toplevel"]);
    const gitDir = await git(dir, ["rev-parse", "--absolute-git-dir"]);
    const prefix = await git(dir, ["rev-parse", "--show-prefix"]);
    const r = await execa("git", ["rev-parse", "--verify", "--quiet", "--end-of-options", `${v.rev ?? "HEAD"}^{commit}`], { cwd: dir, reject: false });
    if (r.exitCode !== 0) throw new BuildCommandError(`no commit "${v.rev ?? "HEAD"}" in ${dir}`);
    const rev = String(r.stdout).trim();
    const log = createLogger({ component: "build", level: "warn", write: (l) => io.stderr.write(`${l}\n`) });
    const mirror = new GitMirror({ dir: gitDir, remotes: [], branch: "main", log });
    const loaded = await loadFleetAtRev(mirror, rev, `${prefix}fleet.yaml`);
    if (hasErrors(loaded.issues) || !loaded.fleet) {
      for (const i of loaded.issues) io.stdout.write(formatIssue(i) + "\n");
      throw new BuildCommandError(`${prefix}fleet.yaml is invalid at ${rev.slice(0, 12)}; nothing built`);
    }
    const flakeRef = `git+file://${top}?rev=${rev}${prefix ? `&dir=${encodeURIComponent(prefix.replace(/\/$/, ""))}` : ""}`;
    io.stderr.write(`building ${loaded.fleet.hosts.length} host(s) at ${rev.slice(0, 12)}\n`);
    const results = await buildFleet(loaded.fleet, {
      nix: nixRunner(process.env),
      flakeRef,
      signingKeyFile: resolve(io.cwd, v["signing-key"]),
      caches: v.cache,
      progress: (e) => {
        const what = e.stage === "build" ? "building" : e.stage === "sign" ? "signing" : e.stage === "copy" ? `copying to ${e.detail}` : `done ${e.detail}`;
        io.stderr.write(`[${e.stage === "done" ? e.index : e.index - 1}/${e.total}] ${e.host}: ${what} (${elapsed()})\n`);
      },
    });
    const manifest: ReleaseManifest = {
      type: "flotilla-release",
      version: 1,
      rev,
      builder: { name: v["builder-name"] ?? `${userInfo().username}@${hostname()}`, key: signer.publicKeyLine },
      builtAt: new Date().toISOString(),
      caches: v.cache,
      hosts: Object.fromEntries(results.map(({ host, kind, outPath, generation, attribute, closureSize }) => [host, { kind, outPath, generation, attribute, closureSize }])),
    };
    const signed = signRelease(manifest, signer);
    const text = JSON.stringify(signed, null, 2) + "\n";
    await writeRelease({ gitDir, rev, text, log });
    if (v.publish) {
      const remote = v.remote ?? "origin";
      io.stderr.write(`publishing ${releaseRef(rev)} to ${remote} (${elapsed()})\n`);
      await publishRelease({ gitDir, rev, remote, log }).catch((cause: Error) => {
        throw new BuildCommandError(`pushing ${releaseRef(rev)} to ${remote} failed: ${cause.message}`, { cause });
      });
    }
    if (v.json) {
      io.stdout.write(text);
    } else {
      const rows = results.map((h) => [h.host, h.kind, formatBytes(h.closureSize), h.outPath]);
      const header = ["HOST", "KIND", "CLOSURE", "OUT PATH"];
      const widths = header.map((_, c) => Math.max(header[c]!.length, ...rows.map((row) => row[c]!.length)));
      const lines = [`release ${rev} signed by ${manifest.builder.name} (${signer.publicKeyLine.slice(0, 30)}…)`];
      for (const row of [header, ...rows]) lines.push(row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join("  "));
      lines.push(`${releaseRef(rev)} ${v.publish ? `published to ${v.remote ?? "origin"}` : "written locally (not published; use --publish)"}; caches: ${v.cache.join(", ")}`);
      io.stdout.write(lines.join("\n") + "\n");
    }
    io.stderr.write(`built ${results.length}/${results.length} host(s) in ${elapsed()}\n`);
    return 0;
  } catch (e) {
    if (e instanceof BuildCommandError || e instanceof BuildStepError || (e as Error).name === "HostKeyError") {
      io.stderr.write(`flotilla build: ${(e as Error).message}\nnothing was published\n`);
      return 1;
    }
    throw e;
  }
}
