/**
 * File routes: uploads for file inputs, outputs and logs of an experiment. File names
 * never escape their folder.
 */
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, posix, relative } from 'node:path';
import type { FastifyInstance, FastifySchema } from 'fastify';
import { NotFoundError, QuotaExceededError, UnsupportedMediaError, ValidationError } from '../../domain/errors.ts';
import { safeFileName } from '../../domain/render-command.ts';
import { jobOutputFiles } from '../../domain/job.ts';
import { outputContentType, outputMediaType } from '../../domain/output-media-type.ts';
import { getExperiment, loadRunContext } from '../../experiments/queries.ts';
import { recordUpload } from '../../state/uploads.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { problemResponses, ref } from '../schemas.ts';
import { openRegularFile } from '../../shell/open-regular-file.ts';

const idParams = { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } as const;

/** The download route's parameters as users see them; `path` is what Fastify calls `*`. */
const outputParams = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    path: {
      type: 'string',
      description:
        'The path listed by listOutputs (`results/a/b.txt`); its slashes may be sent as they are or encoded as %2F',
    },
  },
  required: ['id', 'path'],
} as const;

/**
 * The OpenAPI view of the download route: `/outputs/{path}` instead of `/outputs/{*}`. Only
 * the document gets `outputParams`: as a route schema it would make Fastify require `path`.
 */
function documentWildcardAsPath({ schema, url }: { schema: FastifySchema; url: string }) {
  return { schema: { ...schema, params: outputParams }, url: url.replace(/\*$/, ':path') };
}

export function registerFileRoutes(
  api: FastifyInstance,
  { store, storage, resources, uploadLimitBytes, limits }: ApiDependencies,
): void {
  api.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer', bodyLimit: uploadLimitBytes },
    (_request, body, done) => done(null, body),
  );

  api.post(
    '/uploads',
    {
      bodyLimit: uploadLimitBytes,
      schema: {
        operationId: 'createUpload',
        summary: 'Upload a file for a file input',
        description:
          "The body is the raw bytes, sent as `Content-Type: application/octet-stream`; the answer's `id` is the value of a file input. Uploads count against your upload quota.",
        tags: ['files'],
        querystring: { type: 'object', required: ['filename'], properties: { filename: { type: 'string' } } },
        response: { 201: ref('Upload'), ...problemResponses },
      },
    },
    async (request, reply) => {
      const { filename } = request.query as { filename: string };
      if (!safeFileName(filename)) {
        throw new ValidationError('invalid file name', [
          { field: 'filename', message: 'must be a plain file name: no "/", "\\", ".." or control characters' },
        ]);
      }
      if (!Buffer.isBuffer(request.body)) {
        throw new UnsupportedMediaError(
          'send the file as the request body with Content-Type: application/octet-stream',
        );
      }
      const body = request.body;
      const { principal } = request;
      const recorded = await store.transaction((tx) =>
        recordUpload(
          tx,
          { gatewayId: principal.gatewayId, ownerId: principal.userId, filename, size: body.length },
          limits.uploadQuotaBytes,
        ),
      );
      if ('overQuota' in recorded) {
        const used = recorded.used;
        throw new QuotaExceededError(
          `this upload (${body.length} bytes) would take your uploads to ${used + body.length} bytes, over your quota of ${limits.uploadQuotaBytes} bytes; ask your gateway's operator to raise limits.uploadQuotaBytes`,
          [
            {
              field: 'body',
              message: `exceeds the upload quota: ${Math.max(0, limits.uploadQuotaBytes - used)} bytes left`,
            },
          ],
        );
      }
      const path = storage.uploadPath(request.principal.gatewayId, recorded.id);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, body);
      return reply.code(201).send({ id: recorded.id, filename, size: body.length });
    },
  );

  api.get<{ Params: { id: string } }>(
    '/experiments/:id/outputs',
    {
      schema: {
        operationId: 'listOutputs',
        summary: "List an experiment's output files",
        description:
          'The files brought back from the job, with their paths relative to the outputs folder, sizes and media types (what downloadOutput answers with).',
        tags: ['files'],
        params: idParams,
        response: { 200: ref('OutputList'), ...problemResponses },
      },
    },
    async (request) => {
      const experiment = await getExperiment(store, request.principal, request.params.id);
      const root = storage.outputsDir(request.principal.gatewayId, experiment.id);
      return { items: await listFiles(root) };
    },
  );

  api.get<{ Params: { id: string; '*': string } }>(
    '/experiments/:id/outputs/*',
    {
      // A `:path` route parameter would stop at the first slash, so the route keeps Fastify's
      // wildcard and the document names it `{path}`, a path template that tools accept.
      config: { swaggerTransform: documentWildcardAsPath },
      schema: {
        operationId: 'downloadOutput',
        summary: 'Download an output file',
        description:
          "One file brought back from the job, by its path as listed by listOutputs. `Content-Type` is the listing's `mediaType`: images (PNG, JPEG, GIF, WebP), plain text, CSV and JSON by their own type, anything else (SVG and HTML included) as `application/octet-stream`; always `Content-Disposition: attachment`, `X-Content-Type-Options: nosniff` and a `Content-Security-Policy` that runs nothing (`default-src 'none'; sandbox`), because a job's output is whatever the job wrote. `bytes` answers the first bytes only, for a preview: the listing's `size` says whether there is more.",
        tags: ['files'],
        querystring: {
          type: 'object',
          properties: {
            bytes: {
              type: 'integer',
              minimum: 1,
              maximum: 2147483647,
              description: 'Only the first N bytes (a preview of a large file)',
            },
          },
        },
        response: {
          200: {
            description: "The file (or its first `bytes`), as its listing's mediaType",
            content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
          },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const params = request.params;
      const experiment = await getExperiment(store, request.principal, params.id);
      const path = storage.outputPath(request.principal.gatewayId, experiment.id, params['*']);
      if (!path) throw new NotFoundError(`output ${JSON.stringify(params['*'])}`);
      const { bytes } = request.query as { bytes?: number };
      const file = await openRegularFile(path).catch(() => null);
      if (!file) throw new NotFoundError(`output ${JSON.stringify(params['*'])}`);
      const length = bytes === undefined ? file.size : Math.min(bytes, file.size);
      reply
        .type(outputContentType(params['*']))
        .header('content-length', length)
        .header('content-disposition', attachmentDisposition(posix.basename(params['*'])))
        // Opened directly (a link, a new tab), nothing in it runs: no script, no plugin, no form.
        .header('content-security-policy', "default-src 'none'; sandbox");
      if (length === 0) {
        await file.handle.close();
        return reply.send('');
      }
      return reply.send(file.handle.createReadStream({ start: 0, end: length - 1 }));
    },
  );

  api.get<{ Params: { id: string; stream: 'stdout' | 'stderr' } }>(
    '/experiments/:id/logs/:stream',
    {
      schema: {
        operationId: 'getLog',
        summary: "Get the job's stdout or stderr",
        description:
          'Live from the resource while the job runs, from storage once it is brought back; `tail` keeps the last bytes only.',
        tags: ['files'],
        params: {
          type: 'object',
          properties: { id: { type: 'string' }, stream: { type: 'string', enum: ['stdout', 'stderr'] } },
          required: ['id', 'stream'],
        },
        querystring: {
          type: 'object',
          properties: { tail: { type: 'integer', minimum: 1, description: 'Only the last N bytes' } },
        },
        response: {
          200: { description: 'The text', content: { 'text/plain': { schema: { type: 'string' } } } },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const { id, stream } = request.params;
      const { tail } = request.query as { tail?: number };
      const experiment = await getExperiment(store, request.principal, id);
      const name = jobOutputFiles[stream];
      const staged = storage.outputPath(request.principal.gatewayId, experiment.id, name)!;
      let content: Buffer | null = null;
      const file = await openRegularFile(staged).catch(() => null);
      if (file) {
        try {
          content = await file.handle.readFile();
        } finally {
          await file.handle.close();
        }
      } else if (experiment.state !== 'created') {
        const context = await loadRunContext(store, experiment.id);
        content = await resources
          .open(context.resource)
          .shell.readFile(posix.join(context.workdir, name))
          .catch(() => null);
      }
      if (content === null) throw new NotFoundError(`${stream} of experiment ${id} (the job has not written it yet)`);
      if (tail && content.length > tail) content = content.subarray(content.length - tail);
      return reply.type('text/plain; charset=utf-8').send(content);
    },
  );
}

/**
 * `Content-Disposition: attachment` for any file name (RFC 6266): `filename*` carries the
 * exact name as percent-encoded UTF-8, `filename` an ASCII stand-in for old clients
 * (header values cannot hold other characters, which is why a Unicode name was a 500).
 */
export function attachmentDisposition(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

async function listFiles(root: string): Promise<Array<{ path: string; size: number; mediaType: string }>> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  const files: Array<{ path: string; size: number; mediaType: string }> = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath ?? (entry as any).path, entry.name);
    const path = relative(root, full).split('\\').join('/');
    files.push({ path, size: (await stat(full)).size, mediaType: outputMediaType(path) });
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}
