/**
 * The host key as a signer that can be read again from disk. Reports and gate
 * questions are signed with it; after a host-key rotation (a new key swapped
 * in at `hostKeyPath`) the running agent must not keep signing with the key it
 * read at start, or the controller, which verifies against the fleet file's
 * new `hostKey`, refuses everything (401 BadSignature) until a restart.
 */
import { loadHostSigner, type HostSigner } from "../../../common/src/signing.js";
import type { SignedEnvelope } from "../../../schemas/src/api.js";

export class HostKeyFile implements HostSigner {
  private constructor(
    private current: HostSigner,
    readonly path: string,
  ) {}

  static async load(host: string, path: string): Promise<HostKeyFile> {
    return new HostKeyFile(await loadHostSigner(host, path), path);
  }

  get host(): string {
    return this.current.host;
  }

  get publicKeyLine(): string {
    return this.current.publicKeyLine;
  }

  sign(payload: string): SignedEnvelope {
    return this.current.sign(payload);
  }

  /**
   * Reads the key file again. True when it now holds another key (signatures
   * made before are by the old key). A file that cannot be read or parsed
   * keeps the key in use and throws (HostKeyError, with the cause).
   */
  async reload(): Promise<boolean> {
    const next = await loadHostSigner(this.current.host, this.path);
    if (next.publicKeyLine === this.current.publicKeyLine) return false;
    this.current = next;
    return true;
  }
}
