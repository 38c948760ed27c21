// Cost of the real-host test tier (test/hosts, docs/testing-hosts.md): the
// cached base rootfs, one boot, a reboot, three hosts booted at once, and a
// bare `systemctl --user restart` inside a host (the floor of a legacy
// deploy's unit restart). Needs root. Run:
//   node --import tsx bench/host-tier.ts
import { TestBed } from "../test/hosts/harness.js";

const ms = (t: number) => `${Date.now() - t} ms`;
let t = Date.now();
const bed = await TestBed.create();
console.log(`base rootfs (cached tarball, extracted if needed): ${ms(t)}`);
try {
  t = Date.now();
  const h = await bed.boot("bench-1");
  console.log(`boot one host to running: ${ms(t)}`);
  t = Date.now();
  await h.reboot();
  console.log(`reboot (poweroff + boot the same overlay): ${ms(t)}`);
  await h.sh("mkdir -p ~/.config/systemd/user && printf '[Unit]\\nStartLimitIntervalSec=0\\n[Service]\\nExecStart=/bin/sleep infinity\\n' >~/.config/systemd/user/bench.service && systemctl --user daemon-reload", { user: "deploy" });
  const runs: number[] = [];
  for (let i = 0; i < 10; i++) {
    const s = Date.now();
    await h.sh("systemctl --user restart bench.service", { user: "deploy" });
    runs.push(Date.now() - s);
  }
  runs.sort((a, b) => a - b);
  console.log(`systemctl --user restart via nsenter+runuser, median of 10: ${runs[5]} ms`);
  t = Date.now();
  await Promise.all([bed.boot("bench-2"), bed.boot("bench-3"), bed.boot("bench-4")]);
  console.log(`three more hosts booted at once: ${ms(t)}`);
} finally {
  t = Date.now();
  await bed.close();
  console.log(`power off and clean up four hosts: ${ms(t)}`);
}
