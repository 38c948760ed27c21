/** Where and how release manifests are published (release.ts has the schemas). No zod here. */
export const RELEASE_SIGNATURE_DOMAIN = "flotilla-release-v1\n";
export const RELEASE_REF_PREFIX = "refs/flotilla/releases/";
export const RELEASE_FILE = "release.json";
