/**
 * Decoding of OpenSSH `ssh-ed25519` public key lines into the raw 32-byte key.
 * Pure and dependency-free: the wire format is a length-prefixed key type
 * string followed by a length-prefixed key.
 */
export class InvalidPublicKeyError extends Error {
  override name = "InvalidPublicKeyError";
}

export function decodeSshEd25519PublicKey(line: string): Uint8Array {
  const parts = line.trim().split(/\s+/);
  if (parts[0] !== "ssh-ed25519" || !parts[1]) {
    throw new InvalidPublicKeyError('expected "ssh-ed25519 <base64> [comment]"');
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(parts[1])) throw new InvalidPublicKeyError("the key is not valid base64");
  const blob = Buffer.from(parts[1], "base64");
  if (blob.length < 4) throw new InvalidPublicKeyError("the key blob is truncated");
  const typeLen = blob.readUInt32BE(0);
  const type = blob.subarray(4, 4 + typeLen).toString("latin1");
  if (type !== "ssh-ed25519") throw new InvalidPublicKeyError(`the key blob says "${type}", expected "ssh-ed25519"`);
  const off = 4 + typeLen;
  if (blob.length < off + 4) throw new InvalidPublicKeyError("the key blob is truncated");
  const keyLen = blob.readUInt32BE(off);
  if (keyLen !== 32) throw new InvalidPublicKeyError(`the key blob declares a ${keyLen}-byte key, expected 32 bytes`);
  const actual = blob.length - off - 4;
  if (actual !== 32) throw new InvalidPublicKeyError(`the key blob holds ${actual} key bytes, expected 32 (truncated or padded base64?)`);
  return new Uint8Array(blob.subarray(off + 4, off + 36));
}
