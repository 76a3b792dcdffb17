/**
 * A real SMTP server for tests, run as its own process (smtp-server, by nodemailer's
 * authors): `node test/smtp-sink.mjs <folder>` listens on a free loopback port, accepts
 * any sender and recipient, and writes each message whole as `<folder>/<n>.eml` beside its
 * envelope, `<n>.json` ({ from, to }), the .json last (so a reader that sees it finds the
 * message complete). It prints `{"port": N}` on stdout once it listens. With
 * `SMTP_SINK_REFUSE=<code>` every message is answered with that code instead (a 4xx to try
 * again later, a 5xx to refuse for good) and not kept.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';

const folder = process.argv[2];
const refuse = process.env.SMTP_SINK_REFUSE ? Number(process.env.SMTP_SINK_REFUSE) : null;
let count = 0;

const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  logger: false,
  onData(stream, session, callback) {
    const chunks = [];
    stream.on('data', (chunk) => chunks.push(chunk));
    stream.on('end', () => {
      if (refuse !== null) {
        const error = new Error(refuse >= 500 ? 'refused for good by the test' : 'try again later, says the test');
        error.responseCode = refuse;
        return callback(error);
      }
      count += 1;
      const base = join(folder, String(count).padStart(4, '0'));
      writeFileSync(`${base}.eml`, Buffer.concat(chunks));
      const envelope = {
        from: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
        to: session.envelope.rcptTo.map((recipient) => recipient.address),
      };
      writeFileSync(`${base}.json.part`, JSON.stringify(envelope));
      renameSync(`${base}.json.part`, `${base}.json`);
      callback(null, `Message queued as ${count}`);
    });
  },
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.server.address().port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
