/**
 * Starts the test SMTP server (test/smtp-sink.mjs) as a child process and reads what it
 * received: each message's raw text, its headers (unfolded) and its SMTP envelope.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const sinkScript = fileURLToPath(new URL('./smtp-sink.mjs', import.meta.url));

/** One message the server received. */
export interface ReceivedMail {
  raw: string;
  /** Header lines as sent, unfolded: `Name: value`. */
  headerLines: string[];
  /** The first value of a header, by lower-case name, with its RFC 2047 encoded words decoded. */
  header(name: string): string | undefined;
  body: string;
  /** The body with its quoted-printable encoding undone (nodemailer's choice for long lines). */
  text: string;
  envelope: { from: string | null; to: string[] };
}

export interface SmtpSink {
  /** smtp://127.0.0.1:<port>, for `notifications.email.smtpUrl`. */
  url: string;
  /** Every message received so far, in order. */
  messages(): ReceivedMail[];
  stop(): Promise<void>;
}

/** Starts the server; `refuse` makes it answer every message with that SMTP code. */
export async function startSmtpSink(options: { refuse?: number } = {}): Promise<SmtpSink> {
  const folder = await mkdtemp(join(tmpdir(), 'drover-smtp-'));
  const child: ChildProcess = spawn(process.execPath, [sinkScript, folder], {
    env: { ...process.env, ...(options.refuse ? { SMTP_SINK_REFUSE: String(options.refuse) } : {}) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk) => {
      output += chunk;
      const line = output.split('\n')[0];
      if (output.includes('\n')) resolve(JSON.parse(line).port);
    });
    child.on('exit', (code) => reject(new Error(`the SMTP server exited with ${code}`)));
  });
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages() {
      if (!existsSync(folder)) return [];
      return readdirSync(folder)
        .filter((name) => name.endsWith('.json'))
        .sort()
        .map((name) =>
          parseMail(
            readFileSync(join(folder, name.replace(/\.json$/, '.eml')), 'utf8'),
            JSON.parse(readFileSync(join(folder, name), 'utf8')),
          ),
        );
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      await rm(folder, { recursive: true, force: true });
    },
  };
}

function parseMail(raw: string, envelope: ReceivedMail['envelope']): ReceivedMail {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, end);
  const headerLines = head.replace(/\r\n[ \t]+/g, ' ').split('\r\n');
  return {
    raw,
    headerLines,
    header(name) {
      const line = headerLines.find((candidate) => candidate.toLowerCase().startsWith(`${name.toLowerCase()}:`));
      return line === undefined ? undefined : decodeWords(line.slice(name.length + 1).trim());
    },
    body: raw.slice(end + 4),
    text: /quoted-printable/i.test(head)
      ? Buffer.from(
          raw
            .slice(end + 4)
            .replace(/=\r\n/g, '')
            .replace(/=([0-9A-Fa-f]{2})/g, (_hex, code: string) => String.fromCharCode(parseInt(code, 16))),
          'latin1',
        ).toString('utf8')
      : raw.slice(end + 4),
    envelope,
  };
}

/** Decodes RFC 2047 encoded words (`=?UTF-8?Q?...?=`, `=?UTF-8?B?...?=`); adjacent ones join without the space between. */
function decodeWords(value: string): string {
  return value
    .replace(/(\?=)\s+(=\?)/g, '$1$2')
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_word, _charset, encoding: string, text: string) =>
      encoding.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64').toString('utf8')
        : Buffer.from(
            text
              .replace(/_/g, ' ')
              .replace(/=([0-9A-Fa-f]{2})/g, (_hex, code: string) => String.fromCharCode(parseInt(code, 16))),
            'latin1',
          ).toString('utf8'),
    );
}
