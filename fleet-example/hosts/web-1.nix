# web-1: a web front end (nginx in front of the shop service).
{ ... }:

{
  imports = [ ./hardware-vm.nix ];

  services.shop.enable = true;

  services.nginx = {
    enable = true;
    virtualHosts.default = {
      default = true;
      locations."/".proxyPass = "http://127.0.0.1:8080";
    };
  };
}
