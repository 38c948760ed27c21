# Evaluates one Flotilla NixOS module with ./stub-lib.nix and ./stub-pkgs.nix:
# option defaults are filled in, `config` (what a configuration.nix would
# set) is merged over them, the module's mkIf/mkMerge/mkDefault markers are
# resolved, and option values are checked against their declared types.
# Used by test/integration/nix-packaging.test.ts; see ./stub-lib.nix for
# what this does not cover.
{ module, config ? { }, system ? { } }:
let
  lib = import ./stub-lib.nix;
  pkgs = import ./stub-pkgs.nix { inherit lib; };
  inherit (builtins) isAttrs isList attrNames mapAttrs foldl' filter;

  isOption = v: isAttrs v && (v._type or null) == "option";
  isLeaf = v: lib.isDerivation v || (isAttrs v && v ? outPath);

  defaultsOf = path: options: mapAttrs
    (name: o:
      let p = "${path}${name}"; in
      if isOption o then
        (if o.type.name == "submodule" then merge (defaultsOf "${p}." o.type.options) (o.default or { })
         else if o ? default then o.default
         else throw "option ${p} is used but not defined")
      else defaultsOf "${p}." o)
    options;

  # Right wins; attrsets merge recursively. Forces a left value only when the
  # right one is an attrset (so undefined options stay lazy).
  merge = left: right: left // mapAttrs
    (name: r:
      if isAttrs r && !isLeaf r && left ? ${name} && isAttrs left.${name} && !isLeaf left.${name}
      then merge left.${name} r
      else r)
    right;

  base = {
    networking.hostName = "web-1";
    nix.package = pkgs.nix;
    system.build.nixos-rebuild = pkgs.nixos-rebuild;
  };

  evaluated = import module { inherit lib pkgs; config = finalConfig; };
  finalConfig = merge (merge (merge base system) (defaultsOf "" evaluated.options)) config;

  undefined = { _undefined = true; };
  combine = a: b:
    if isAttrs a && isAttrs b && !isLeaf a && !isLeaf b then
      a // mapAttrs (name: v: if a ? ${name} then combine a.${name} v else v) b
    else if isList a && isList b then a ++ b
    else b;
  resolve = v:
    if isAttrs v && (v._type or null) == "if" then (if v.condition then resolve v.content else undefined)
    else if isAttrs v && (v._type or null) == "merge" then
      foldl' combine { } (filter (x: !(isAttrs x && x ? _undefined)) (map resolve v.contents))
    else if isAttrs v && (v._type or null) == "override" then resolve v.content
    else if isAttrs v && !isLeaf v then
      lib.filterAttrs (_: x: !(isAttrs x && x ? _undefined)) (mapAttrs (_: resolve) v)
    else v;
  resolved = resolve evaluated.config;
  result = if isAttrs resolved && resolved ? _undefined then { } else resolved;

  typeErrors = path: options: values: builtins.concatLists (map
    (name:
      let
        o = options.${name};
        p = "${path}${name}";
        has = isAttrs values && values ? ${name};
        v = values.${name};
        ok = builtins.tryEval (builtins.deepSeq v v);
      in
      if !has then [ ]
      else if isOption o then
        (if !ok.success then [ "${p}: has no value" ]
         else if !(o.type.check v) then [ "${p}: ${builtins.toJSON v} is not a valid ${o.type.name}" ]
         else if o.type.name == "submodule" then typeErrors "${p}." o.type.options v
         else [ ])
      else typeErrors "${p}." o v)
    (attrNames options));
in
{
  inherit lib pkgs result;
  config = finalConfig;
  typeErrors = typeErrors "" evaluated.options finalConfig;
  failedAssertions = map (a: a.message) (filter (a: !a.assertion) (result.assertions or [ ]));
}
