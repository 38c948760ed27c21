# Gives every registry package in a package-lock.json a `resolved` URL, so
# that importNpmLock (and fetchNpmDeps, which share the rule) fetch it: both
# skip entries without one. npm leaves `resolved` out when the lockfile is
# written with `omit-lockfile-registry-resolved=true`, as Flotilla's is.
# The URL is rebuilt from the registry base, the package name (from the
# entry's `name`, else its last `node_modules/` path segment) and the version,
# npm's own tarball layout `<registry>/<name>/-/<basename>-<version>.tgz`;
# the lockfile's `integrity` still pins the content, so a wrong URL fails
# the fetch rather than changing what is built.
#
# builtins only (no nixpkgs), so the test suite evaluates it on the real lock.
{ lockfile, registry ? null }:
let
  packages = lockfile.packages or { };
  needsUrl = key: entry:
    key != ""
    && !(entry.link or false)
    && !(entry.inBundle or false)
    && !(entry ? resolved)
    && entry ? version
    && entry ? integrity;
  keys = builtins.filter (key: needsUrl key packages.${key}) (builtins.attrNames packages);

  nameOf = key: entry:
    entry.name or (builtins.head (builtins.match ".*node_modules/(.+)" key));
  baseNameOf' = name:
    let scoped = builtins.match "@[^/]+/(.+)" name;
    in if scoped == null then name else builtins.head scoped;
  base =
    if registry == null then null
    else let m = builtins.match "(.*[^/])/*" registry; in if m == null then registry else builtins.head m;
  urlOf = key: entry:
    let name = nameOf key entry;
    in "${base}/${name}/-/${baseNameOf' name}-${entry.version}.tgz";

  patched = builtins.mapAttrs
    (key: entry:
      if needsUrl key entry then entry // { resolved = urlOf key entry; } else entry)
    packages;
in
{
  # Keys of the entries that had no `resolved` (and got one, given a registry).
  unresolved = keys;
  lockfile =
    if keys == [ ] then lockfile
    else if base == null then
      throw ''
        flotilla: package-lock.json has ${toString (builtins.length keys)} packages without a
        `resolved` URL (it was written with omit-lockfile-registry-resolved), so Nix cannot
        fetch them. Name the npm registry in the repository's .npmrc
        (`registry=https://registry.npmjs.org/` or your mirror) or pass it as
        `npmRegistry` (see docs/packaging.md, "The npm registry"), or
        regenerate the lockfile with
        `npm install --package-lock-only --omit-lockfile-registry-resolved=false`.''
    else lockfile // { packages = patched; };
}
