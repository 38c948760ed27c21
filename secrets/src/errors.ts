/**
 * @module secrets/errors
 * One class per failure point of the secrets module. Every message names the
 * file, the path inside it and what was expected. No message, property or
 * `cause` built here ever carries a plaintext value: messages are assembled
 * only from file names, key paths, recipients and type names. Underlying
 * errors kept as `cause` come from crypto/parsing of *ciphertext* or metadata,
 * never from decrypted data.
 *
 * `stalled` follows the Flux vocabulary: true means a human must act (fix
 * `.sops.yaml`, re-encrypt, restore the host key); retrying will not help.
 */

export interface SecretsErrorOptions {
  file?: string | undefined;
  path?: string | undefined;
  cause?: unknown;
}

export abstract class SecretsError extends Error {
  /** PascalCase reason, usable as a condition reason. */
  abstract readonly reason: string;
  readonly stalled: boolean = true;
  readonly file: string | undefined;
  readonly path: string | undefined;
  constructor(message: string, opts: SecretsErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.file = opts.file;
    this.path = opts.path;
  }
}

const where = (file: string | undefined, path?: string | undefined): string =>
  `${file ?? "<sops file>"}${path !== undefined && path !== "" ? ` at ${path}` : ""}`;

/** The SSH host key (or another identity file) is missing, unreadable or not ed25519. */
export class HostKeyError extends SecretsError {
  readonly reason = "HostKeyUnavailable";
  constructor(keyFile: string, expected: string, cause?: unknown) {
    super(`host key ${keyFile}: ${expected}`, { file: keyFile, cause });
  }
}

/** An identity/recipient string or file could not be parsed. */
export class IdentityError extends SecretsError {
  readonly reason = "InvalidIdentity";
  constructor(source: string, expected: string, cause?: unknown) {
    super(`${source}: ${expected}`, { file: source, cause });
  }
}

/** None of our identities can unwrap the data key. */
export class NoMatchingRecipientError extends SecretsError {
  readonly reason = "NoMatchingRecipient";
  readonly fileRecipients: readonly string[];
  readonly ourRecipients: readonly string[];
  constructor(file: string | undefined, fileRecipients: string[], ourRecipients: string[], cause?: unknown) {
    super(
      `${where(file)}: no age recipient in the file matches this host's identities; ` +
        `expected one of the file's recipients [${fileRecipients.join(", ") || "none (no age keys in file)"}] ` +
        `to be ours [${ourRecipients.join(", ") || "none"}]. Add this host's recipient to the creation rule in .sops.yaml ` +
        `and run \`flotilla secrets updatekeys ${file ?? "<file>"}\``,
      { file, cause },
    );
    this.fileRecipients = fileRecipients;
    this.ourRecipients = ourRecipients;
  }
}

/** A recipient stanza matched but the data key could not be recovered (corrupt `enc`, bad size). */
export class DataKeyError extends SecretsError {
  readonly reason = "DataKeyUnavailable";
  constructor(file: string | undefined, path: string, expected: string, cause?: unknown) {
    super(`${where(file, path)}: ${expected}`, { file, path, cause });
  }
}

/** The file's MAC does not match its content, or the MAC itself cannot be decrypted. */
export class MacMismatchError extends SecretsError {
  readonly reason = "MacMismatch";
  constructor(file: string | undefined, expected: string, cause?: unknown) {
    super(`${where(file, "sops.mac")}: MAC check failed: ${expected}; the file was modified outside sops or is corrupt`, {
      file,
      path: "sops.mac",
      cause,
    });
  }
}

/** A value that must be `ENC[AES256_GCM,...]` is not, or does not decrypt (tampered). */
export class MalformedValueError extends SecretsError {
  readonly reason = "MalformedEncryptedValue";
  constructor(file: string | undefined, path: string, expected: string, cause?: unknown) {
    super(`${where(file, path)}: ${expected}`, { file, path, cause });
  }
}

/** An `ENC[...]` value declares a type this reader does not know. */
export class UnknownValueTypeError extends SecretsError {
  readonly reason = "UnknownValueType";
  constructor(file: string | undefined, path: string, type: string) {
    // The type token comes from the ENC envelope's plaintext framing; it is cut
    // to a short token so an injected secret could not ride in it.
    const shown = /^[A-Za-z0-9_-]{1,16}$/.test(type) ? type : "<invalid>";
    super(`${where(file, path)}: unknown value type "${shown}"; expected one of str, int, float, bool, time, bytes, comment`, {
      file,
      path,
    });
  }
}

/** The file cannot be read as a sops file of the given format (syntax, metadata). */
export class SopsFormatError extends SecretsError {
  readonly reason = "InvalidSopsFile";
  constructor(file: string | undefined, path: string | undefined, expected: string, cause?: unknown) {
    super(`${where(file, path)}: ${expected}`, { file, path, cause });
  }
}

/** A key path declared in the fleet file is absent from the decrypted file. */
export class KeyPathNotFoundError extends SecretsError {
  readonly reason = "SecretKeyNotFound";
  constructor(file: string | undefined, keyPath: string, missing: string) {
    super(`${where(file)}: key path "${keyPath}" not found (no "${missing}" there); expected the key to exist in the decrypted file`, {
      file,
      path: keyPath,
    });
  }
}

/** Writing, switching or pruning secret generations failed. Retried with backoff. */
export class SecretsInstallError extends SecretsError {
  readonly reason = "SecretsInstallFailed";
  override readonly stalled: boolean = false;
  constructor(step: string, target: string, cause?: unknown) {
    super(`secrets install: ${step} failed for ${target}${cause instanceof Error && "code" in cause ? ` (${String((cause as NodeJS.ErrnoException).code)})` : ""}`, {
      file: target,
      cause,
    });
  }
}

/** A declared secret entry is invalid (bad name, mode, owner). */
export class SecretDeclarationError extends SecretsError {
  readonly reason = "InvalidSecretDeclaration";
  constructor(name: string, expected: string) {
    super(`secret "${name}": ${expected}`, { path: name });
  }
}
