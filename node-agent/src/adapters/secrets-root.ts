/**
 * Is the secrets root a safe place for decrypted secrets? It should be on a
 * tmpfs (or ramfs), so plaintext never reaches a disk and is gone at power
 * off, and neither it nor the directory it will be created in may be
 * writable by group or others (anyone could swap `current` or a generation).
 * Returns one warning per problem; the agent logs them loudly at start and
 * `flotilla-agent self-test` reports them. Linux: the filesystem comes from
 * /proc/self/mountinfo (no /proc: not checked).
 */
import { readFileSync, realpathSync, statSync } from "node:fs";
import { dirname } from "node:path";

const MEMORY_FS = new Set(["tmpfs", "ramfs"]);

/** The nearest existing directory at or above `path`. */
function existingAncestor(path: string): string {
  let p = path;
  for (;;) {
    try {
      statSync(p);
      return realpathSync(p);
    } catch {
      const up = dirname(p);
      if (up === p) return p;
      p = up;
    }
  }
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The filesystem type and mount point `path` lives on, from mountinfo text. */
export function filesystemOf(path: string, mountinfo: string): { type: string; mount: string } | null {
  let best: { type: string; mount: string } | null = null;
  for (const line of mountinfo.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const mount = unescape(left.split(" ")[4] ?? "");
    const type = right.split(" ")[0] ?? "";
    const inside = mount === "/" || path === mount || path.startsWith(`${mount}/`);
    // Later lines win on equal mount points (they are mounted over the earlier ones).
    if (inside && (!best || mount.length >= best.mount.length)) best = { type, mount };
  }
  return best;
}

export function secretsRootWarnings(root: string, mountinfoPath = "/proc/self/mountinfo"): string[] {
  const warnings: string[] = [];
  const dir = existingAncestor(root);
  let mountinfo: string | null = null;
  try {
    mountinfo = readFileSync(mountinfoPath, "utf8");
  } catch {
    mountinfo = null;
  }
  const fs = mountinfo ? filesystemOf(dir, mountinfo) : null;
  if (fs && !MEMORY_FS.has(fs.type)) {
    warnings.push(`secrets root ${root} is on ${fs.type} (mounted at ${fs.mount}), not on tmpfs: decrypted secrets would be written to disk and outlive a reboot; point secretsRoot at a tmpfs such as /run/flotilla/secrets.d`);
  }
  try {
    const mode = statSync(dir).mode & 0o777;
    if (mode & 0o022) {
      const what = dir === realpathSafe(root) ? `secrets root ${root}` : `${dir}, where the secrets root ${root} will be created,`;
      warnings.push(`${what} is ${mode & 0o002 ? "world" : "group"}-writable (mode ${mode.toString(8).padStart(4, "0")}): others could replace secrets or the current link; chmod go-w it`);
    }
  } catch {
    // unreadable: the install will say so
  }
  return warnings;
}

function realpathSafe(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}
