/**
 * loopssh issue 11 (proof in CI): AsyncSSH 2.10.1's SFTP client against the loopssh
 * server at 1 GiB, get byte-exact against the openssl reference and put
 * checked through server.seen. Its own file so vitest runs it beside the
 * other 1 GiB tests (test/interop/sftp-1gib-python.ts has the tests).
 */
import { pythonClientAt1GiB } from './sftp-1gib-python.ts';

pythonClientAt1GiB('asyncssh');
