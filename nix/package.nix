# The flotilla npm package: both CLIs (`flotilla`, `flotilla-agent`) built
# from package.json/package-lock.json with buildNpmPackage.
#
# Dependencies come from importNpmLock (nixpkgs >= 24.05): one fetchurl per
# lockfile entry, pinned by the entry's `integrity`, so there is no
# npmDepsHash to compute (which would need network access) and no hash to
# update when the lockfile changes. The lockfile omits `resolved` URLs, so
# ./lib/npm-lock.nix rebuilds them from `npmRegistry` (default: .npmrc's
# `registry=`).
#
# better-sqlite3 is compiled by `npm rebuild` inside the config hook:
# prebuild-install cannot download in the sandbox, so it falls back to
# node-gyp, which needs python3 (buildNpmPackage adds nodejs.python) and the
# Node headers (the hook points npm_config_nodedir at the nodejs source).
{
  lib,
  buildNpmPackage,
  importNpmLock,
  nodejs_20,
  makeWrapper,
  git,
  openssh,
  # Base URL of the npm registry to fetch tarballs from: by default the
  # `registry=` line of the repository's .npmrc (./lib/npmrc-registry.nix),
  # the one setting docs/packaging.md ("The npm registry") describes; null
  # stops the build with an explanation.
  npmRegistry ? import ./lib/npmrc-registry.nix ../.npmrc,
  src ? lib.fileset.toSource {
    root = ../.;
    # What `npm run build` (tsconfig.build.json) and the bins need; tests,
    # docs and Nix files stay out so editing them does not rebuild.
    fileset = lib.fileset.unions (map lib.fileset.maybeMissing [
      ../package.json
      ../package-lock.json
      ../tsconfig.json
      ../tsconfig.build.json
      ../bin
      ../schemas/src
      ../schemas/generated
      ../common/src
      ../secrets/src
      ../node-agent/src
      ../controller/src
      ../bench
    ]);
  },
}:
let
  packageJson = lib.importJSON (src + "/package.json");
  lock = import ./lib/npm-lock.nix {
    lockfile = lib.importJSON (src + "/package-lock.json");
    registry = npmRegistry;
  };
in
buildNpmPackage {
  pname = packageJson.name;
  inherit (packageJson) version;
  inherit src;
  nodejs = nodejs_20;

  npmDeps = importNpmLock {
    npmRoot = src;
    packageLock = lock.lockfile;
  };
  npmConfigHook = importNpmLock.npmConfigHook;
  # node-gyp (better-sqlite3) and npm rebuild write into the npm cache.
  makeCacheWritable = true;

  nativeBuildInputs = [ makeWrapper ];

  # Not npm pack: with no "files" in package.json it would follow .gitignore,
  # which ignores dist/. Install exactly what runs: dist, bin, production deps.
  installPhase = ''
    runHook preInstall
    npm prune --omit=dev --no-save --offline
    dest=$out/lib/node_modules/${packageJson.name}
    mkdir -p "$dest" $out/bin
    cp -r package.json bin dist node_modules "$dest"/
    for bin in flotilla flotilla-agent; do
      # The agent's V8 flags (package.json "flotilla.agentNodeFlags"): a small
      # young generation and no optimizing compiler keep the idle daemon
      # within its memory budget (bench/RESULTS.md, "Idle RSS").
      flags=""
      if [ $bin = flotilla-agent ]; then flags="${lib.concatStringsSep " " (packageJson.flotilla.agentNodeFlags or [ ])} "; fi
      # git and ssh as a fallback only: the host's own (and its nix) come first.
      makeWrapper ${lib.getExe nodejs_20} $out/bin/$bin \
        --add-flags "$flags$dest/bin/$bin.js" \
        --suffix PATH : ${lib.makeBinPath [ git openssh ]}
    done
    runHook postInstall
  '';

  doInstallCheck = true;
  installCheckPhase = ''
    runHook preInstallCheck
    $out/bin/flotilla --version
    # Loads the native module the controller's SQLite store needs.
    ${lib.getExe nodejs_20} -e 'const D = require(process.argv[1]); new D(":memory:").close()' \
      "$out/lib/node_modules/${packageJson.name}/node_modules/better-sqlite3"
    runHook postInstallCheck
  '';

  # npmRegistry: what `nix eval <flake>#packages.<system>.flotilla.npmRegistry` shows.
  passthru = { inherit (lock) unresolved; inherit npmRegistry; };

  meta = {
    description = packageJson.description;
    license = lib.licenses.mit;
    mainProgram = "flotilla";
    platforms = lib.platforms.linux;
  };
}
