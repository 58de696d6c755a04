// A known-bad client for `loopssh audit`: ssh2 1.17's client used as its
// README shows (exec, pipe stdout, end stdin, report the exit code at
// 'close'), with no loopssh patch. ssh2's Channel.destroy() sends
// CHANNEL_CLOSE, and Node's autoDestroy calls it once stdout ended (the
// server's EOF) and stdin finished, so an exit-status sent after the EOF is
// lost: the `eof-delay-exit` scenario ends with 255 here.
//
// usage: node ssh2_plain.mjs HOST PORT USER IDENTITY KNOWN_HOSTS COMMAND
// Exit status: the remote exit status, 255 without one or on a connection error.
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';

const [host, port, username, identity, knownHosts, command] = process.argv.slice(2);
// known_hosts as the audit writes it: one line, "[host]:port TYPE BASE64".
const hostKey = readFileSync(knownHosts, 'utf8').trim().split(/\s+/)[2];
const client = new ssh2.Client();
client.on('error', (err) => {
  process.stderr.write(`ssh2_plain: ${err.message}\n`);
  process.exitCode = 255;
});
client.on('ready', () => {
  client.exec(command, (err, channel) => {
    if (err) {
      process.stderr.write(`ssh2_plain: ${err.message}\n`);
      process.exitCode = 255;
      client.end();
      return;
    }
    channel.pipe(process.stdout);
    channel.stderr.pipe(process.stderr);
    channel.end();
    channel.on('close', (code) => {
      process.exitCode = typeof code === 'number' ? code : 255;
      client.end();
    });
  });
});
client.connect({
  host,
  port: Number(port),
  username,
  privateKey: readFileSync(identity),
  hostVerifier: (key) => key.toString('base64') === hostKey,
});
