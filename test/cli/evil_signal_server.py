"""A hostile SSH server for loopssh's CLI tests: no authentication, and every
command writes one line and then "dies" by the signal named in argv[1], which
may hold terminal escape sequences. Prints "PORT FINGERPRINT" when ready."""
import asyncio, sys
import asyncssh

SIGNAL = sys.argv[1]

class NoAuth(asyncssh.SSHServer):
    def begin_auth(self, username):
        return False

async def handle(process):
    process.stdout.write('partial output\n')
    process.exit_with_signal(SIGNAL)

async def main():
    key = asyncssh.generate_private_key('ssh-ed25519')
    server = await asyncssh.listen('127.0.0.1', 0, server_host_keys=[key], server_factory=NoAuth, process_factory=handle)
    port = server.sockets[0].getsockname()[1]
    print(port, key.get_fingerprint('sha256'), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
