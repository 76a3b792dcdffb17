/**
 * The web UI's API types and constants (web/src/api/schema.d.ts, constants.ts) are generated
 * from the server's OpenAPI document; this fails when a route or schema changed without
 * regenerating them.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  apiConstantsPath,
  apiTypesPath,
  openApiDocument,
  renderApiConstants,
  renderApiTypes,
} from '../scripts/generate-api-types.ts';
import { activeExperimentStates, experimentStates, terminalExperimentStates } from '../src/domain/experiment.ts';
import { defaultJobSettings } from '../src/domain/resource.ts';

it('the committed web API types match the server (run `npm run generate:api` when this fails)', async () => {
  assert.equal(await readFile(apiTypesPath, 'utf8'), await renderApiTypes());
});

it('the committed web API constants match the server (run `npm run generate:api` when this fails)', async () => {
  assert.equal(await readFile(apiConstantsPath, 'utf8'), await renderApiConstants());
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
