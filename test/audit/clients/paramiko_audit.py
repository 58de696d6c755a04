"""paramiko client for `loopssh audit`: exec_command, stdout and stderr copied by two
threads into fds 1 and 2 with blocking writes, then recv_exit_status().

When stdin is a pipe (the audit's tiny-window scenario feeds one) a third thread
copies it into the channel with sendall(), then sends EOF; otherwise (the audit's
/dev/null) nothing is sent on stdin, as in the default scenarios' measurements.

usage: paramiko_audit.py HOST PORT USER IDENTITY KNOWN_HOSTS COMMAND
Exit status: the remote exit status; 255 when paramiko reports none (-1, which is
also what it reports for exit-signal) or on a connection error.
"""
import os
import stat
import sys
import threading

import paramiko


def copy(read, fd: int) -> None:
    while True:
        data = read(65536)
        if not data:
            return
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]


def forward_stdin(channel) -> None:
    try:
        while True:
            data = os.read(0, 65536)
            if not data:
                break
            channel.sendall(data)
        channel.shutdown_write()
    except (OSError, paramiko.SSHException) as err:
        print(f"paramiko_audit: stdin: {err}", file=sys.stderr)


def main() -> int:
    host, port, user, identity, known_hosts, command = sys.argv[1:7]
    client = paramiko.SSHClient()
    client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(host, port=int(port), username=user, key_filename=identity,
                       allow_agent=False, look_for_keys=False)
        _, stdout, stderr = client.exec_command(command)
        channel = stdout.channel
        threads = [threading.Thread(target=copy, args=(channel.recv, 1)),
                   threading.Thread(target=copy, args=(channel.recv_stderr, 2))]
        if stat.S_ISFIFO(os.fstat(0).st_mode):
            threads.append(threading.Thread(target=forward_stdin, args=(channel,)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        status = channel.recv_exit_status()
    except (OSError, paramiko.SSHException) as err:
        print(f"paramiko_audit: {err}", file=sys.stderr)
        return 255
    finally:
        client.close()
    return status if status >= 0 else 255


sys.exit(main())
