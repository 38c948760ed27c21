// Running the real nix CLI offline in tests: the environment it needs (flakes
// on, no substituters), a build that returns the out path, profile
// generations, and a hard check that required tools exist (tests never skip).
import { execFileSync } from "node:child_process";
import { execa } from "execa";

/** nix.conf lines every test invocation needs: flakes, and no network caches. */
export const NIX_CONFIG = "experimental-features = nix-command flakes\nsubstituters =";

const DEBIAN_PACKAGE: Record<string, string> = {
  nix: "nix-bin",
  "nix-env": "nix-bin",
  git: "git",
  "git-http-backend": "git",
  age: "age",
  "age-keygen": "age",
};

/** Returns the absolute path of `name`, or throws naming the Debian package to install. */
export function requireTool(name: string): string {
  try {
    const path = execFileSync("/bin/sh", ["-c", 'command -v "$1"', "sh", name], { encoding: "utf8" }).trim();
    if (path) return path;
  } catch {
    // fall through to the explanatory error
  }
  const pkg = DEBIAN_PACKAGE[name] ?? name;
  throw new Error(
    `required tool "${name}" is not on PATH; install the Debian package "${pkg}" (apt-get install ${pkg}). ` +
      "Flotilla's integration tests run real tools and never skip.",
  );
}

/** Process environment for nix: the current env, NIX_CONFIG as above (appended to any existing one), plus `extra`. */
export function nixEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
  env.NIX_CONFIG = env.NIX_CONFIG ? `${env.NIX_CONFIG}\n${NIX_CONFIG}` : NIX_CONFIG;
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** `nix build --no-link --json <flakeRef>#<attr>` (or just flakeRef when attr is omitted); returns the out path. */
export async function nixBuild(flakeRef: string, attr?: string): Promise<string> {
  const installable = attr === undefined ? flakeRef : `${flakeRef}#${attr}`;
  const result = await execa("nix", ["build", "--no-link", "--json", installable], {
    env: nixEnv(),
    extendEnv: false,
    reject: false,
  });
  if (result.exitCode !== 0) {
    throw new Error(`nix build ${installable} failed (exit ${result.exitCode}):\n${result.stderr}`);
  }
  const parsed = JSON.parse(result.stdout) as Array<{ outputs: Record<string, string> }>;
  const out = parsed[0]?.outputs.out;
  if (!out) throw new Error(`nix build ${installable}: no "out" output in ${result.stdout}`);
  return out;
}

export interface Generation {
  id: number;
  date: string;
  current: boolean;
}

/** Parses `nix-env -p <profile> --list-generations`. */
export async function listGenerations(profile: string): Promise<Generation[]> {
  const { stdout } = await execa("nix-env", ["-p", profile, "--list-generations"], { env: nixEnv(), extendEnv: false });
  return stdout
    .split("\n")
    .map((line) => /^\s*(\d+)\s+(\S+\s+\S+)\s*(\(current\))?\s*$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ id: Number(m[1]), date: m[2] ?? "", current: m[3] !== undefined }));
}
