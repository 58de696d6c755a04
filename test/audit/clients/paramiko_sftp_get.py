"""paramiko SFTP client for `loopssh audit --sftp`: `SFTPClient.get(path, out)`, the
one call paramiko's docs give for a download (it prefetches, then compares the bytes
written with the size stat gave and raises IOError on a mismatch; the file stays).

usage: paramiko_sftp_get.py HOST PORT USER IDENTITY KNOWN_HOSTS PATH OUT
Exit status: 0 when get() returns, 1 when it raises (the message goes to stderr),
255 on a connection error.
"""
import sys

import paramiko


def main() -> int:
    host, port, user, identity, known_hosts, path, out = sys.argv[1:8]
    client = paramiko.SSHClient()
    client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(host, port=int(port), username=user, key_filename=identity,
                       allow_agent=False, look_for_keys=False)
    except (OSError, paramiko.SSHException) as err:
        print(f"paramiko_sftp_get: {err}", file=sys.stderr)
        return 255
    try:
        sftp = client.open_sftp()
        sftp.get(path, out)
        sftp.close()
    except (OSError, paramiko.SSHException) as err:
        print(f"paramiko_sftp_get: {err}", file=sys.stderr)
        return 1
    finally:
        client.close()
    return 0


sys.exit(main())
