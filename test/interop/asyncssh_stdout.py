"""The AsyncSSH #629 seed scenario with AsyncSSH's own client: run a command
with stdout=sys.stdout and check=True, then let asyncio.run() return.
Driven by test/interop/asyncssh.test.ts with stdout a stalled pipe.

usage: asyncssh_stdout.py PORT KEY KNOWN_HOSTS COMMAND
Prints `exit_status N` on stderr when run() returned.
"""
import asyncio
import sys

import asyncssh


async def main() -> None:
    port, key, known_hosts, command = sys.argv[1:5]
    async with asyncssh.connect(
        "127.0.0.1", port=int(port), username="tester",
        client_keys=[key], known_hosts=known_hosts, agent_path=None,
    ) as conn:
        r = await conn.run(command, stdout=sys.stdout, stderr=asyncssh.DEVNULL, encoding=None, check=True)
    sys.stderr.write(f"exit_status {r.exit_status}\n")


asyncio.run(main())
