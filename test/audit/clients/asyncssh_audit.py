"""AsyncSSH client for `loopssh audit`, written as AsyncSSH #629's reporter did:
`conn.run(command, stdout=sys.stdout, check=True)` (bytes here, stderr to sys.stderr).

When stdin is a pipe (the audit's tiny-window scenario feeds one) it is passed as
`stdin=sys.stdin.buffer`; otherwise (the audit's /dev/null) run() gets no stdin,
as in the default scenarios' measurements.

usage: asyncssh_audit.py HOST PORT USER IDENTITY KNOWN_HOSTS COMMAND
Exit status: 0 when run() returns, the remote exit status when check=True raises
(255 for a signal), 255 for a connection error.
https://github.com/ronf/asyncssh/issues/629
"""
import asyncio
import os
import stat
import sys

import asyncssh


async def main() -> int:
    host, port, user, identity, known_hosts, command = sys.argv[1:7]
    try:
        async with asyncssh.connect(
            host, port=int(port), username=user,
            client_keys=[identity], known_hosts=known_hosts, agent_path=None,
        ) as conn:
            stdin = {"stdin": sys.stdin.buffer} if stat.S_ISFIFO(os.fstat(0).st_mode) else {}
            await conn.run(command, stdout=sys.stdout, stderr=sys.stderr, check=True, encoding=None, **stdin)
    except asyncssh.ProcessError as err:
        return err.exit_status if err.exit_status and err.exit_status > 0 else 255
    except (OSError, asyncssh.Error) as err:
        print(f"asyncssh_audit: {err}", file=sys.stderr)
        return 255
    return 0


sys.exit(asyncio.run(main()))
