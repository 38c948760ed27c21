/**
 * @module secrets/install/activate
 * Switching `<root>/current` between generation directories atomically (a
 * fresh relative symlink renamed over the old one, as sops-nix does), the
 * declared extra install paths (symlinks into `current`), rollback and pruning.
 */
import { lstat, readdir, readlink, rename, rm, symlink, mkdir, unlink } from "node:fs/promises";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { SecretDeclarationError, SecretsInstallError } from "../errors.js";
import { readManifest, type Manifest } from "./manifest.js";
import { diffManifests, type SecretsPlan } from "./plan.js";

export const CURRENT = "current";

export function generationDir(root: string, n: number): string {
  return path.join(root, String(n));
}

/** The generation `<root>/current` points to, or undefined. */
export async function currentSecretsGeneration(root: string): Promise<number | undefined> {
  try {
    const target = await readlink(path.join(root, CURRENT));
    const n = Number(path.basename(target));
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** All generation numbers present under root, ascending. */
export async function listSecretsGenerations(root: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^[1-9]\d*$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
}

async function atomicSymlink(target: string, linkPath: string): Promise<void> {
  const tmp = path.join(path.dirname(linkPath), `.${path.basename(linkPath)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  await symlink(target, tmp);
  try {
    await rename(tmp, linkPath);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

async function isOurLink(p: string, root: string): Promise<boolean> {
  try {
    const st = await lstat(p);
    if (!st.isSymbolicLink()) return false;
    return path.resolve(path.dirname(p), await readlink(p)).startsWith(path.join(root, CURRENT) + path.sep);
  } catch {
    return false;
  }
}

function describe(st: Awaited<ReturnType<typeof lstat>>): string {
  if (st.isSymbolicLink()) return "symlink";
  if (st.isDirectory()) return "directory";
  if (st.isFile()) return "file";
  return "special file";
}

/**
 * Refuse every declared install path that exists and is not a link Flotilla
 * made: a symlink into `<root>/current/` is only ever created by the agent,
 * anything else (a usr-merged host's `/bin -> usr/bin`, an operator's file)
 * is not ours to replace. Checked for all paths before anything is switched.
 */
export async function checkInstallPaths(root: string, manifest: Manifest): Promise<void> {
  for (const s of manifest.secrets) {
    if (!s.path) continue;
    const st = await lstat(s.path).catch(() => undefined);
    if (!st || (await isOurLink(s.path, root))) continue;
    const what = st.isSymbolicLink() ? ` (-> ${await readlink(s.path).catch(() => "?")})` : "";
    throw new SecretDeclarationError(
      s.name,
      `path ${s.path} is a ${describe(st)}${what} that Flotilla did not create; refusing to replace it. Expected a path that does not exist yet or a link Flotilla made into ${path.join(root, CURRENT)}/; choose another path or remove it yourself`,
    );
  }
}

/**
 * Point `<root>/current` at generation n (atomic rename), then make every
 * declared install path a symlink to `<root>/current/<name>` and remove the
 * links of secrets no longer declared. Returns the previously current generation.
 */
export async function activateSecretsGeneration(root: string, n: number): Promise<number | undefined> {
  const dir = generationDir(root, n);
  const manifest = await readManifest(dir);
  if (!manifest) throw new SecretsInstallError(`activating generation ${n} (it is missing or incomplete)`, dir);
  await checkInstallPaths(root, manifest);
  const previous = await currentSecretsGeneration(root);
  const prevManifest = previous === undefined ? undefined : await readManifest(generationDir(root, previous));
  try {
    await atomicSymlink(String(n), path.join(root, CURRENT));
  } catch (e) {
    throw new SecretsInstallError(`switching ${CURRENT} to generation ${n}`, path.join(root, CURRENT), e);
  }
  const wanted = new Set<string>();
  for (const s of manifest.secrets) {
    if (!s.path) continue;
    wanted.add(s.path);
    const target = path.join(root, CURRENT, s.name);
    try {
      await mkdir(path.dirname(s.path), { recursive: true, mode: 0o755 });
      await atomicSymlink(target, s.path);
    } catch (e) {
      throw new SecretsInstallError(`linking secret ${s.name}`, s.path, e);
    }
  }
  for (const s of prevManifest?.secrets ?? []) {
    if (s.path && !wanted.has(s.path) && (await isOurLink(s.path, root))) await rm(s.path, { force: true });
  }
  return previous;
}

/**
 * Switch secrets back to `previousN` (with the system's rollback) and return
 * which units to restart because their secrets differ between the two.
 */
export async function rollbackSecrets(root: string, previousN: number): Promise<SecretsPlan> {
  const from = await currentSecretsGeneration(root);
  const toDir = generationDir(root, previousN);
  const toManifest = await readManifest(toDir);
  if (!toManifest) throw new SecretsInstallError(`rolling back to generation ${previousN} (it is missing or was pruned)`, toDir);
  const fromDir = from === undefined ? undefined : generationDir(root, from);
  const diff = await diffManifests(fromDir, fromDir ? await readManifest(fromDir) : undefined, toDir, toManifest);
  await activateSecretsGeneration(root, previousN);
  return { generation: previousN, previous: from, dir: toDir, ...diff };
}

/**
 * Keep the `keep` newest generations plus the current one; remove the rest.
 * Returns the removed generation numbers.
 */
export async function pruneSecretsGenerations(root: string, keep: number): Promise<number[]> {
  const all = await listSecretsGenerations(root);
  const current = await currentSecretsGeneration(root);
  const keepSet = new Set(all.slice(Math.max(0, all.length - Math.max(0, keep))));
  if (current !== undefined) keepSet.add(current);
  const removed: number[] = [];
  for (const n of all) {
    if (keepSet.has(n)) continue;
    try {
      await rm(generationDir(root, n), { recursive: true, force: true });
      removed.push(n);
    } catch (e) {
      throw new SecretsInstallError(`pruning generation ${n}`, generationDir(root, n), e);
    }
  }
  return removed;
}
