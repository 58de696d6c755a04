"""AsyncSSH client -> loopssh server, driven by test/interop/asyncssh.test.ts.

usage: asyncssh_client.py PORT KEY KNOWN_HOSTS OUT_DIR UPLOAD
Prints one JSON object: what each run returned.
"""
import asyncio
import json
import sys

import asyncssh


async def main() -> None:
    port, key, known_hosts, out_dir, upload = sys.argv[1:6]
    results = {}
    async with asyncssh.connect(
        "127.0.0.1", port=int(port), username="tester",
        client_keys=[key], known_hosts=known_hosts, agent_path=None,
    ) as conn:
        # encoding=None: payloads are bytes (AsyncSSH decodes UTF-8 by default).
        for name, command in (("small", "payload 160KiB"), ("large", "payload 64MiB --pattern random --seed 4")):
            r = await conn.run(command, stdout=f"{out_dir}/{name}.bin", stderr=asyncssh.DEVNULL, encoding=None)
            results[name] = {"exit_status": r.exit_status, "exit_signal": r.exit_signal}
        r = await conn.run("sink", stdin=upload, encoding=None)
        results["sink"] = {"exit_status": r.exit_status, "stdout": r.stdout.decode()}
        r = await conn.run("payload 10 --exit 3")
        results["exit3"] = {"exit_status": r.exit_status, "stdout": r.stdout}
    print(json.dumps(results))


asyncio.run(main())
