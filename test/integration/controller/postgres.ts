// A throwaway PostgreSQL cluster for tests, from Debian's postgresql package:
// initdb + pg_ctl as the postgres user on a temp dir and a free port, torn
// down by stop(). Missing binaries fail the test (naming the package); never skip.
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import pg from "pg";
import { freePort } from "../../helpers/free-port.js";

export interface TestPostgres {
  /** URL of the maintenance database. */
  url: string;
  port: number;
  /** Creates a fresh empty database and returns its URL. */
  createDatabase(prefix?: string): Promise<string>;
  stop(): Promise<void>;
}

export function postgresBinDir(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) {
    throw new Error(
      "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install the Debian package \"postgresql\" (apt-get install postgresql). " +
        "The controller's PostgreSQL tests run a real server and never skip.",
    );
  }
  return join(root, versions[0]!, "bin");
}


export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBinDir();
  const root = mkdtempSync(join(tmpdir(), "flotilla-pg-"));
  const asRoot = process.getuid?.() === 0;
  const asPostgres = (cmd: string, args: string[]) => (asRoot ? execa("runuser", ["-u", "postgres", "--", cmd, ...args]) : execa(cmd, args));
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    chmodSync(root, 0o755);
    chownSync(root, uid, gid);
  }
  const data = join(root, "data");
  await asPostgres(join(bin, "initdb"), ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions"]);
  const port = await freePort();
  const opts = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`;
  await asPostgres(join(bin, "pg_ctl"), ["-D", data, "-o", opts, "-w", "-t", "60", "-l", join(root, "log"), "start"]);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let n = 0;
  return {
    url,
    port,
    async createDatabase(prefix = "t") {
      const name = `${prefix}_${process.pid}_${++n}`;
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      await asPostgres(join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
