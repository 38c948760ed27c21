/**
 * @module secrets/sops/recipients
 * The age recipients a sops file is encrypted for, read without any key
 * (for `flotilla validate`, updatekeys reports and tests).
 */
import { loadSops, type SopsFormat } from "./load.js";

export function loadSopsRecipients(bytes: Uint8Array, format: SopsFormat, file?: string): string[] {
  return loadSops(bytes, format, file).metadata.age.map((a) => a.recipient);
}
