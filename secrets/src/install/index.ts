/**
 * @module secrets/install
 * Generation directories under a tmpfs root, the `current` link, rollback,
 * pruning and the restart plan. See docs/secrets.md for the agent's sequence.
 */
export { prepareSecretsGeneration, DEFAULT_SECRETS_ROOT, type PrepareOptions } from "./generation.js";
export { activateSecretsGeneration, rollbackSecrets, pruneSecretsGenerations, currentSecretsGeneration, listSecretsGenerations, generationDir } from "./activate.js";
export type { SecretDeclaration } from "./declaration.js";
export type { SecretsPlan } from "./plan.js";
export { SopsSecrets, type SopsSecretsOptions, type SecretsContextLike, type FleetSecretLike } from "./agent.js";
