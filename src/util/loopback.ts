/**
 * Whether a host stays on this machine. The one test of "loopback" the
 * server (warning when it binds anything else) and the CLI (trusting the key
 * folder's own host key) share.
 */
import { isIP } from 'node:net';

/** True for `localhost`, any 127.0.0.0/8 address (also IPv4-mapped, `::ffff:127.x.y.z`) and `::1`. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}
