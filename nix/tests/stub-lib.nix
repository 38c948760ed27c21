# A stand-in for the small part of nixpkgs' `lib` the Flotilla modules use,
# builtins only, so the test suite can evaluate the modules where nixpkgs
# cannot be fetched. Semantics follow nixpkgs where it matters to the modules
# (mkIf/mkMerge/mkDefault are markers resolved by ./eval-module.nix; options
# carry a `check` the evaluator applies). It is no substitute for the real
# module system: checks.<system> in flake.nix evaluates the modules with
# nixos/lib/eval-config.nix.
let
  escapeRegex = s:
    builtins.replaceStrings
      [ "\\" "." "*" "+" "?" "(" ")" "[" "]" "{" "}" "|" "^" "$" ]
      [ "\\\\" "\\." "\\*" "\\+" "\\?" "\\(" "\\)" "\\[" "\\]" "\\{" "\\}" "\\|" "\\^" "\\$" ]
      s;
  hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
  isDerivation = v: builtins.isAttrs v && (v.type or null) == "derivation";
  mkType = name: check: extra: { inherit name check; } // extra;

  types = rec {
    str = mkType "str" builtins.isString { };
    lines = str;
    bool = mkType "bool" builtins.isBool { };
    int = mkType "int" builtins.isInt { };
    ints.positive = mkType "positiveInt" (v: builtins.isInt v && v > 0) { };
    port = mkType "port" (v: builtins.isInt v && v >= 0 && v <= 65535) { };
    path = mkType "path" (v: builtins.isPath v || (builtins.isString v && hasPrefix "/" v)) { };
    package = mkType "package" (v: isDerivation v || (builtins.isAttrs v && v ? outPath)) { };
    attrs = mkType "attrs" builtins.isAttrs { };
    anything = mkType "anything" (_: true) { };
    enum = values: mkType "enum" (v: builtins.elem v values) { inherit values; };
    strMatching = pattern: mkType "strMatching" (v: builtins.isString v && builtins.match pattern v != null) { inherit pattern; };
    nullOr = elemType: mkType "nullOr" (v: v == null || elemType.check v) { inherit elemType; };
    listOf = elemType: mkType "listOf" (v: builtins.isList v && builtins.all elemType.check v) { inherit elemType; };
    attrsOf = elemType: mkType "attrsOf" (v: builtins.isAttrs v && builtins.all elemType.check (builtins.attrValues v)) { inherit elemType; };
    submodule = m: mkType "submodule" builtins.isAttrs { options = m.options or { }; freeform = m ? freeformType; };
  };

  filterAttrs = pred: set:
    builtins.listToAttrs (builtins.concatMap
      (name: if pred name set.${name} then [{ inherit name; value = set.${name}; }] else [ ])
      (builtins.attrNames set));
in
{
  inherit types filterAttrs hasPrefix isDerivation escapeRegex;
  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption = name: { _type = "option"; type = types.bool; default = false; description = "Whether to enable ${name}."; };
  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkMerge = contents: { _type = "merge"; inherit contents; };
  mkDefault = content: { _type = "override"; priority = 1000; inherit content; };
  mkForce = content: { _type = "override"; priority = 50; inherit content; };
  literalExpression = text: { _type = "literalExpression"; inherit text; };

  importJSON = path: builtins.fromJSON (builtins.readFile path);
  getExe = drv: "${drv}/bin/${drv.meta.mainProgram or drv.pname or drv.name}";
  makeBinPath = drvs: builtins.concatStringsSep ":" (map (d: "${d}/bin") drvs);
  licenses.mit = { spdxId = "MIT"; };
  platforms.linux = [ "x86_64-linux" "aarch64-linux" ];
  # Sources stay the repo itself; the real fileset filter is not modelled.
  fileset = {
    toSource = { root, fileset }: root;
    unions = builtins.filter (p: p != null);
    maybeMissing = path: if builtins.pathExists path then path else null;
  };
  mapAttrs = builtins.mapAttrs;
  genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
  optional = cond: x: if cond then [ x ] else [ ];
  optionals = cond: xs: if cond then xs else [ ];
  optionalAttrs = cond: set: if cond then set else { };
  optionalString = cond: s: if cond then s else "";
  concatStringsSep = builtins.concatStringsSep;
  boolToString = b: if b then "true" else "false";
  removePrefix = prefix: s:
    if hasPrefix prefix s
    then builtins.substring (builtins.stringLength prefix) (builtins.stringLength s) s
    else s;
  hasInfix = infix: s: builtins.match ".*${escapeRegex infix}.*" s != null;
  splitString = sep: s: builtins.filter builtins.isString (builtins.split (escapeRegex sep) s);
  last = xs: builtins.elemAt xs (builtins.length xs - 1);
  toInt = s:
    if builtins.match "[0-9]+" s != null then builtins.fromJSON s
    else throw "toInt: not an integer: ${s}";
}
