/** host name → spec for a fleet, built once per fleet object (fleets are immutable). */
import type { Fleet, HostSpec } from "../../../common/src/fleet/model.js";

const cache = new WeakMap<Fleet, Map<string, HostSpec>>();

export function hostSpec(fleet: Fleet, host: string): HostSpec | undefined {
  let index = cache.get(fleet);
  if (!index) {
    index = new Map(fleet.hosts.map((h) => [h.name, h]));
    cache.set(fleet, index);
  }
  return index.get(host);
}
