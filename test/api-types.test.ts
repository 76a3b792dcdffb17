/**
 * The one typed API client (src/api-client/: schema.d.ts and constants.ts generated from the
 * server's OpenAPI document, client.ts over them) that the web UI and the CLI share: this
 * fails when a route or schema changed without regenerating the types, when a second
 * hand-written client appears beside it, or when the client no longer reads what the
 * server answers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import {
  apiConstantsPath,
  apiTypesPath,
  openApiDocument,
  renderApiConstants,
  renderApiTypes,
} from '../scripts/generate-api-types.ts';
import { ApiError, createDroverClient, ok } from '../src/api-client/client.ts';
import { activeExperimentStates, experimentStates, terminalExperimentStates } from '../src/domain/experiment.ts';
import { defaultJobSettings } from '../src/domain/resource.ts';
import { adminToken, projectRoot, startTestDrover, type TestDrover } from './harness.ts';

it('the committed API client types match the server (run `npm run generate:api` when this fails)', async () => {
  assert.equal(await readFile(apiTypesPath, 'utf8'), await renderApiTypes());
});

it('the committed API client constants match the server (run `npm run generate:api` when this fails)', async () => {
  assert.equal(await readFile(apiConstantsPath, 'utf8'), await renderApiConstants());
});

it('the web UI and the CLI call the API through the one generated client, not a copy of their own', async () => {
  const files = async (folder: string): Promise<string[]> =>
    (await readdir(join(projectRoot, folder), { recursive: true }))
      .filter((name) => /\.tsx?$/.test(name) && !/\.test\.tsx?$/.test(name))
      .map((name) => join(projectRoot, folder, name));
  const offenders: string[] = [];
  for (const file of [...(await files('web/src')), ...(await files('src/cli'))]) {
    const text = await readFile(file, 'utf8');
    // openapi-fetch, generated paths or a call of the global fetch outside src/api-client/ is a
    // second client (EventSource, which openapi-fetch cannot replace, is not matched).
    if (/from 'openapi-fetch'|interface paths\b|(^|[^.\w])fetch\(/m.test(text))
      offenders.push(relative(projectRoot, file));
  }
  assert.deepEqual(offenders, []);
});

describe('the generated client against a running server', () => {
  let drover: TestDrover;
  before(async () => {
    drover = await startTestDrover();
  });
  after(() => drover.stop());

  it('reads typed answers with the bearer token', async () => {
    const api = createDroverClient({ baseUrl: drover.url, token: () => adminToken });
    const me = await ok(api.GET('/api/v1/me'));
    assert.equal(me.user.role, 'admin');
    const { items } = await ok(api.GET('/api/v1/applications'));
    assert.ok(items.some((application) => application.name === 'pi-monte-carlo'));
  });

  it('throws the problem a refused call answers, field by field, and reports a refused token', async () => {
    let refused = 0;
    const api = createDroverClient({ baseUrl: drover.url, token: () => adminToken });
    const error = await ok(
      api.POST('/api/v1/experiments', {
        body: { application: 'pi-monte-carlo', resource: 'local', walltimeMinutes: -1 },
      }),
    ).catch((caught: unknown) => caught);
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 400);
    assert.ok(error.fieldErrors().walltimeMinutes, JSON.stringify(error.problem));

    const revoked = createDroverClient({
      baseUrl: drover.url,
      token: () => 'revoked',
      onUnauthorized: () => refused++,
    });
    await assert.rejects(
      ok(revoked.GET('/api/v1/me')),
      (caught) => caught instanceof ApiError && caught.status === 401,
    );
    assert.equal(refused, 1);
  });
});

it("the OpenAPI document states the domain's state groups and default job settings", async () => {
  const { components } = (await openApiDocument()) as { components: { schemas: Record<string, any> } };
  assert.deepEqual(components.schemas.ExperimentSummary.properties.state.enum, experimentStates);
  assert.deepEqual(components.schemas.TerminalExperimentState.enum, terminalExperimentStates);
  assert.deepEqual(components.schemas.ActiveExperimentState.enum, activeExperimentStates);
  const settings = components.schemas.JobSettings.properties;
  assert.deepEqual(
    {
      nodes: settings.nodes.default,
      coresPerNode: settings.coresPerNode.default,
      walltimeMinutes: settings.walltimeMinutes.default,
    },
    defaultJobSettings,
  );
});

it('the OpenAPI document names every response schema the UI relies on', async () => {
  const document = (await openApiDocument()) as {
    components: { schemas: Record<string, unknown> };
    paths: Record<string, any>;
  };
  for (const name of [
    'Experiment',
    'ExperimentSummary',
    'ExperimentPage',
    'Event',
    'Application',
    'Resource',
    'Me',
    'Problem',
    'Upload',
  ]) {
    assert.ok(document.components.schemas[name], `components.schemas.${name}`);
  }
  const experiment = document.paths['/api/v1/experiments/{id}'].get.responses;
  assert.equal(experiment['200'].content['application/json'].schema.$ref, '#/components/schemas/Experiment');
  assert.equal(experiment['404'].content['application/problem+json'].schema.$ref, '#/components/schemas/Problem');
});
