/**
 * @module secrets
 * SOPS files decrypted with age against the machine's SSH host key, for the
 * agent (install) and the operator CLI. See secrets/README.md.
 */
export * from "./errors.js";
export type { Identity, IdentityKind } from "./identities/types.js";
export { loadHostIdentities, hostRecipient, sshIdentitiesFromKey } from "./identities/host.js";
export { loadIdentityFile, parseAgeKeyFile } from "./identities/age-keys.js";
export { sshToAgeIdentity, sshToAgeRecipient } from "./identities/ssh-to-age.js";
export { SshEd25519Identity, SshEd25519Recipient } from "./identities/ssh-ed25519.js";
export { parseEd25519PrivateKey, parseEd25519PublicKey } from "./identities/openssh.js";
export type { Node, MapNode, ListNode, Scalar, Comment, MapEntry } from "./sops/tree.js";
export { toPlain } from "./sops/tree.js";
export { decryptSopsFile, type Decrypted, type DecryptedTree, type DecryptedBinary, type DecryptOptions } from "./sops/reader.js";
export { formatFromPath, SOPS_FORMATS, type SopsFormat } from "./sops/load.js";
export type { SopsMetadata } from "./sops/metadata.js";
export { extract, renderValue, renderDecrypted } from "./sops/extract.js";
export { encryptSopsFile, updateKeys, SOPS_FORMAT_VERSION, type EncryptOptions, type UpdateKeysResult } from "./sops/writer.js";
export type { CryptRules } from "./sops/rules.js";
export * from "./install/index.js";
export { loadSopsRecipients } from "./sops/recipients.js";
