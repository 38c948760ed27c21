/**
 * @module secrets/install/generation
 * prepareSecretsGeneration: decrypt every declared secret first (any failure
 * aborts before a single byte is written), then write `<root>/<n>/…` with the
 * declared owner, group and mode, and report what changed against the
 * generation `current` points to. It never switches `current`.
 */
import { chmod, chown, lstat, mkdir, open, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Identity } from "../identities/types.js";
import { decryptSopsFile, type Decrypted } from "../sops/reader.js";
import { formatFromPath, type SopsFormat } from "../sops/load.js";
import { extract, renderDecrypted, renderValue } from "../sops/extract.js";
import { SecretDeclarationError, SecretsInstallError } from "../errors.js";
import { parseMode, resolveId, validateName, type SecretDeclaration } from "./declaration.js";
import { MANIFEST, readManifest, type Manifest, type ManifestEntry } from "./manifest.js";
import { diffManifests, type SecretsPlan } from "./plan.js";
import { currentSecretsGeneration, generationDir } from "./activate.js";

export const DEFAULT_SECRETS_ROOT = "/run/flotilla/secrets.d";

export interface PrepareOptions {
  /** tmpfs directory holding generations; default /run/flotilla/secrets.d. */
  root?: string;
  generation: number;
  secrets: SecretDeclaration[];
  identities: Identity[];
  /** chown files to the declared owner/group (needs root). Default false. */
  chown?: boolean;
}

interface Rendered {
  entry: ManifestEntry;
  bytes: Uint8Array;
}

async function decryptAll(secrets: SecretDeclaration[], identities: Identity[], doChown: boolean): Promise<Rendered[]> {
  const cache = new Map<string, Promise<Decrypted>>();
  const seen = new Set<string>();
  const out: Rendered[] = [];
  for (const s of secrets) {
    const name = validateName(s.name);
    if (seen.has(name)) throw new SecretDeclarationError(name, "declared twice; expected unique names");
    seen.add(name);
    if (s.path !== undefined && !path.isAbsolute(s.path)) throw new SecretDeclarationError(name, `path "${s.path}": expected an absolute path`);
    const mode = parseMode(name, s.mode);
    const uid = doChown ? resolveId("owner", name, s.owner) : typeof s.owner === "number" ? s.owner : 0;
    const gid = doChown ? resolveId("group", name, s.group) : typeof s.group === "number" ? s.group : 0;
    const format: SopsFormat = s.format ?? formatFromPath(s.sopsFile.path);
    const cacheKey = `${format}\0${s.sopsFile.path}`;
    let p = cache.get(cacheKey);
    if (!p) cache.set(cacheKey, (p = decryptSopsFile(s.sopsFile.bytes, { format, identities, file: s.sopsFile.path })));
    const d = await p;
    const bytes = s.key === undefined || s.key === "" ? renderDecrypted(d) : renderValue(extract(d, s.key, s.sopsFile.path), format);
    out.push({ entry: { name, path: s.path, uid, gid, mode, restartUnits: [...(s.restartUnits ?? [])] }, bytes });
  }
  return out;
}

async function ensureRoot(root: string): Promise<void> {
  try {
    await mkdir(root, { recursive: true, mode: 0o751 });
  } catch (e) {
    throw new SecretsInstallError("creating the secrets root", root, e);
  }
}

export async function prepareSecretsGeneration(opts: PrepareOptions): Promise<SecretsPlan> {
  const root = opts.root ?? DEFAULT_SECRETS_ROOT;
  if (!Number.isSafeInteger(opts.generation) || opts.generation < 1) throw new SecretsInstallError("validating the generation number", String(opts.generation));
  const doChown = opts.chown ?? false;
  // 1. Decrypt everything (MAC verified) before touching the filesystem.
  const rendered = await decryptAll(opts.secrets, opts.identities, doChown);
  try {
    await ensureRoot(root);
    const previous = await currentSecretsGeneration(root);
    if (previous === opts.generation) throw new SecretsInstallError(`preparing generation ${opts.generation} (it is the current one)`, root);
    const dir = generationDir(root, opts.generation);
    // A leftover from an interrupted attempt is not live (current points elsewhere): start clean.
    await rm(dir, { recursive: true, force: true });
    try {
      await mkdir(dir, { mode: 0o751 });
      await chmod(dir, 0o751);
      for (const r of rendered) await writeSecret(dir, r, doChown);
      const manifest: Manifest = { generation: opts.generation, secrets: rendered.map((r) => r.entry) };
      await writeFile(path.join(dir, MANIFEST), JSON.stringify(manifest, null, 2), { mode: 0o400 });
    } catch (e) {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw e instanceof SecretsInstallError ? e : new SecretsInstallError(`writing generation ${opts.generation}`, dir, e);
    }
    const prevDir = previous === undefined ? undefined : generationDir(root, previous);
    const prevManifest = prevDir ? await readManifest(prevDir) : undefined;
    const diff = await diffManifests(prevDir, prevManifest, dir, { generation: opts.generation, secrets: rendered.map((r) => r.entry) });
    return { generation: opts.generation, previous, dir, ...diff };
  } finally {
    for (const r of rendered) if (r.bytes instanceof Buffer || r.bytes instanceof Uint8Array) r.bytes.fill(0);
  }
}

async function writeSecret(dir: string, r: Rendered, doChown: boolean): Promise<void> {
  const file = path.join(dir, r.entry.name);
  const parent = path.dirname(file);
  if (parent !== dir) {
    await mkdir(parent, { recursive: true, mode: 0o751 });
    const st = await lstat(parent);
    if (!st.isDirectory()) throw new SecretsInstallError("creating a secret's directory", parent);
  }
  // O_EXCL + O_NOFOLLOW: never write through something that was already there.
  const fh = await open(file, "wx", 0o600);
  try {
    await fh.writeFile(r.bytes);
    await fh.sync();
    if (doChown) await fh.chown(r.entry.uid, r.entry.gid);
    await fh.chmod(r.entry.mode);
  } catch (e) {
    throw new SecretsInstallError(`writing secret ${r.entry.name}`, file, e);
  } finally {
    await fh.close();
  }
  if (doChown && parent !== dir) await chown(parent, 0, r.entry.gid).catch(() => undefined);
}
