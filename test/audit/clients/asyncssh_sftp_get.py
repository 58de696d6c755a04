"""AsyncSSH SFTP client for `loopssh audit --sftp`: `SFTPClient.get(path, out)`, the
one call AsyncSSH's docs give for a download (it reads in parallel blocks up to the
size stat gave, then on until a READ answers EOF).

usage: asyncssh_sftp_get.py HOST PORT USER IDENTITY KNOWN_HOSTS PATH OUT
Exit status: 0 when get() returns, 1 when it raises an SFTP or OS error (the message
goes to stderr), 255 on a connection error.
"""
import asyncio
import sys

import asyncssh


async def main() -> int:
    host, port, user, identity, known_hosts, path, out = sys.argv[1:8]
    try:
        conn = await asyncssh.connect(
            host, port=int(port), username=user,
            client_keys=[identity], known_hosts=known_hosts, agent_path=None,
        )
    except (OSError, asyncssh.Error) as err:
        print(f"asyncssh_sftp_get: {err}", file=sys.stderr)
        return 255
    async with conn:
        try:
            async with conn.start_sftp_client() as sftp:
                await sftp.get(path, out)
        except (OSError, asyncssh.Error) as err:
            print(f"asyncssh_sftp_get: {err}", file=sys.stderr)
            return 1
    return 0


sys.exit(asyncio.run(main()))
