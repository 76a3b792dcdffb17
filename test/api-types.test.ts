/**
 * The web UI's API types (web/src/api/schema.d.ts) are generated from the server's OpenAPI
 * document; this fails when a route or schema changed without regenerating them.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { apiTypesPath, openApiDocument, renderApiTypes } from '../scripts/generate-api-types.ts';

it('the committed web API types match the server (run `npm run generate:api` when this fails)', async () => {
  assert.equal(await readFile(apiTypesPath, 'utf8'), await renderApiTypes());
});

it('the OpenAPI document names every response schema the UI relies on', async () => {
  const document = (await openApiDocument()) as { components: { schemas: Record<string, unknown> }; paths: Record<string, any> };
  for (const name of ['Experiment', 'ExperimentSummary', 'ExperimentPage', 'Event', 'Application', 'Resource', 'Me', 'Problem', 'Upload']) {
    assert.ok(document.components.schemas[name], `components.schemas.${name}`);
  }
  const experiment = document.paths['/api/v1/experiments/{id}'].get.responses;
  assert.equal(experiment['200'].content['application/json'].schema.$ref, '#/components/schemas/Experiment');
  assert.equal(experiment['404'].content['application/problem+json'].schema.$ref, '#/components/schemas/Problem');
});
