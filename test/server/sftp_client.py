"""SFTP client for loopssh's tests: paramiko or AsyncSSH, one connection.

usage: sftp_client.py paramiko|asyncssh PORT KEYFILE OP...
OP: get:REMOTE:LOCAL  put:LOCAL:REMOTE  ls:PATH
Prints one JSON line per op: {"op":..., "ok":true, "ms":...} or {"ok":false,"error":...};
ms is the op's wall time.
"""
import json
import sys
import time

lib, port, keyfile, *ops = sys.argv[1:]


started = time.monotonic()


def report(op, **fields):
    global started
    ms = round((time.monotonic() - started) * 1000)
    print(json.dumps({"op": op, **fields, "ms": ms}), flush=True)
    started = time.monotonic()


def run_paramiko():
    import paramiko
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    c.connect("127.0.0.1", int(port), username="loopssh", key_filename=keyfile,
              look_for_keys=False, allow_agent=False, timeout=20)
    s = c.open_sftp()
    global started
    started = time.monotonic()
    for op in ops:
        kind, a, *rest = op.split(":")
        try:
            if kind == "get":
                s.get(a, rest[0])
                report(op, ok=True)
            elif kind == "put":
                s.put(a, rest[0])
                report(op, ok=True)
            elif kind == "ls":
                report(op, ok=True, names=sorted(s.listdir(a)))
        except Exception as e:  # the test asserts on the type and text
            report(op, ok=False, error=f"{type(e).__name__}: {e}")
    c.close()


def run_asyncssh():
    import asyncio
    import asyncssh

    async def main():
        async with asyncssh.connect("127.0.0.1", int(port), username="loopssh", client_keys=[keyfile],
                                    known_hosts=None, agent_path=None) as conn:
            async with conn.start_sftp_client() as s:
                global started
                started = time.monotonic()
                for op in ops:
                    kind, a, *rest = op.split(":")
                    try:
                        if kind == "get":
                            await s.get(a, rest[0])
                            report(op, ok=True)
                        elif kind == "put":
                            await s.put(a, rest[0])
                            report(op, ok=True)
                        elif kind == "ls":
                            report(op, ok=True, names=sorted(n for n in await s.listdir(a) if n not in (".", "..")))
                    except Exception as e:
                        report(op, ok=False, error=f"{type(e).__name__}: {e}")

    asyncio.run(main())


run_paramiko() if lib == "paramiko" else run_asyncssh()
