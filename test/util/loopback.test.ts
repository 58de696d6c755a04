/**
 * One loopback test for server and CLI (loopssh issue 13.6): the server's
 * "not loopback" warning and the CLI's trust in its own host key used to
 * disagree (127.0.0.2 was loopback to one and not the other).
 */
import { describe, expect, it } from 'vitest';
import { isLoopback } from '../../src/util/loopback.ts';

describe('isLoopback', () => {
  it.each(['127.0.0.1', '127.0.0.2', '127.255.255.254', '::1', '0:0:0:0:0:0:0:1', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1'])('%s stays on this machine', (host) => {
    expect(isLoopback(host)).toBe(true);
  });

  it.each(['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '::ffff:10.0.0.1', '127.example.com', '127.0.0', 'localhost.evil.example', ''])('%s does not', (host) => {
    expect(isLoopback(host)).toBe(false);
  });
});
