"""asyncio's pipe transport after close(): writes are dropped without an
exception (a logged warning only from the sixth on), and close() still
flushes what was queued before it, reporting the end in connection_lost().
Run: /usr/bin/python3 examples/probes/asyncio-write-after-close.py
"""
import asyncio
import logging
import os
import sys

warnings = []


class Count(logging.Handler):
    def emit(self, record):
        warnings.append(record.getMessage())


logging.getLogger('asyncio').addHandler(Count())


async def main():
    loop = asyncio.get_running_loop()
    r, w = os.pipe()
    lost = loop.create_future()

    class Protocol(asyncio.BaseProtocol):
        def connection_lost(self, exc):
            lost.set_result(exc)

    transport, _ = await loop.connect_write_pipe(Protocol, os.fdopen(w, 'wb', buffering=0))
    transport.write(b'x' * 200_000)
    queued = transport.get_write_buffer_size()
    transport.close()
    first_warning = None
    for i in range(1, 8):
        transport.write(b'y')
        if warnings and first_warning is None:
            first_warning = i
    data = b''
    while len(data) < 200_000:
        await asyncio.sleep(0.01)
        data += os.read(r, 1 << 20)
    await lost
    os.close(r)
    print(f'queued at close(): {queued}; read {len(data)} bytes, {data.count(b"y")} of 7 later writes; '
          f'first warning at write {first_warning}; connection_lost: yes')


asyncio.run(main())
sys.exit(0)
