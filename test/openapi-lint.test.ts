/**
 * The OpenAPI document the server really serves passes the two linters gateway developers
 * run in their pipelines, with the rules in redocly.yaml and .spectral.yaml: Redocly's
 * `recommended` and Spectral's `spectral:oas`. Any error or warning fails, printed with
 * where it is. Both run in-process and offline (the document has no external $ref).
 * Beyond the linters, every operation carries what a generated client and a reader need,
 * and the documented download path is the one that works.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import spectralCore from '@stoplight/spectral-core';
import spectralParsers from '@stoplight/spectral-parsers';
import spectralRulesets from '@stoplight/spectral-rulesets';
import { parse as parseYaml } from 'yaml';
import { projectRoot, startTestDrover, type TestDrover } from './harness.ts';

// CommonJS packages: their named exports are properties of the default import.
const { Document, Spectral } = spectralCore;
const { oas } = spectralRulesets;
const jsonParser = spectralParsers.Json;

let drover: TestDrover;
let served: string;
let document: { paths: Record<string, Record<string, any>>; components: any; tags: Array<{ name: string }> };

before(async () => {
  drover = await startTestDrover();
  const response = await fetch(`${drover.url}/api/v1/openapi.json`);
  assert.equal(response.status, 200);
  served = await response.text();
  document = JSON.parse(served);
});
after(async () => {
  await drover?.stop();
});

it("passes Redocly's recommended rules with no error and no warning", async () => {
  const config = await createConfig(await readFile(join(projectRoot, 'redocly.yaml'), 'utf8'));
  const problems = await lintFromString({ source: served, absoluteRef: `${drover.url}/api/v1/openapi.json`, config });
  const found = problems.map(
    (problem) =>
      `${problem.severity} ${problem.ruleId}: ${problem.message} at ${problem.location.map((place) => place.pointer).join(', ')}`,
  );
  assert.deepEqual(found, [], `${found.length} problems:\n${found.join('\n')}`);
});

it("passes Spectral's spectral:oas rules with no error and no warning", async () => {
  const settings = parseYaml(await readFile(join(projectRoot, '.spectral.yaml'), 'utf8')) as {
    extends: string[];
    rules?: Record<string, unknown>;
  };
  // The CLI resolves `spectral:oas` by name; in-process it is the ruleset object.
  assert.deepEqual(settings.extends, ['spectral:oas'], 'this test knows the spectral:oas ruleset only');
  const spectral = new Spectral();
  spectral.setRuleset({ extends: [[oas as any, 'recommended']], rules: (settings.rules ?? {}) as any });
  const results = await spectral.run(new Document(served, jsonParser, 'openapi.json'));
  const found = results.map(
    (result) =>
      `${['error', 'warning', 'info', 'hint'][result.severity]} ${result.code}: ${result.message} at ${result.path.join('.')}`,
  );
  assert.deepEqual(found, [], `${found.length} problems:\n${found.join('\n')}`);
});

/** The operations the sign-in page calls before anyone is signed in. */
const publicPaths = new Set([
  '/api/v1/gateway',
  '/api/v1/sign-in-methods',
  '/auth/{gateway}/login',
  '/auth/{gateway}/callback',
]);

it('gives every operation a camelCase operationId, a summary, a description, declared tags, problem answers and the bearer or session scheme', () => {
  const declaredTags = new Set(document.tags.map((tag) => tag.name));
  const operationIds = new Set<string>();
  const missing: string[] = [];
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const where = `${method.toUpperCase()} ${path}`;
      if (!/^[a-z][A-Za-z]+$/.test(operation.operationId ?? '')) missing.push(`${where}: operationId`);
      if (operationIds.has(operation.operationId)) missing.push(`${where}: a unique operationId`);
      operationIds.add(operation.operationId);
      if (!operation.summary) missing.push(`${where}: summary`);
      if (!operation.description) missing.push(`${where}: description`);
      if (!operation.tags?.length || !operation.tags.every((tag: string) => declaredTags.has(tag)))
        missing.push(`${where}: a declared tag`);
      for (const status of ['400', '404'])
        if (!operation.responses?.[status]?.content?.['application/problem+json'])
          missing.push(`${where}: a ${status} problem+json answer`);
      // The sign-in page's calls are public (the branding, the sign-in methods, the sign-in
      // itself); every other takes the document's schemes: a bearer token or the session cookie.
      const security = operation.security ?? (document as any).security;
      if (publicPaths.has(path)) assert.deepEqual(security, [], `${where} needs no token`);
      else if (JSON.stringify(security) !== JSON.stringify([{ bearer: [] }, { session: [] }]))
        missing.push(`${where}: bearer or session security`);
      else if (!operation.responses?.['401']) missing.push(`${where}: a 401 answer`);
    }
  }
  assert.deepEqual(missing, []);
  for (const operationId of [
    'listExperiments',
    'createExperiment',
    'getExperiment',
    'cancelExperiment',
    'downloadOutput',
  ])
    assert.ok(operationIds.has(operationId), operationId);
});

it('leaves only the published experiment state groups unreferenced (the rule both configs switch off)', () => {
  const used = new Set([...served.matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((match) => match[1]));
  const unused = Object.keys(document.components.schemas).filter((name) => !used.has(name));
  assert.deepEqual(unused.sort(), ['ActiveExperimentState', 'TerminalExperimentState']);
});

it('documents downloads as /outputs/{path}, and nested paths download with slashes plain or encoded', async () => {
  assert.ok(document.paths['/api/v1/experiments/{id}/outputs/{path}']?.get, 'the download path is /outputs/{path}');
  assert.ok(!Object.keys(document.paths).some((path) => path.includes('{*}')), 'no wildcard path template');
  const draft = await drover.call('POST', '/api/v1/experiments', {
    application: 'pi-monte-carlo',
    resource: 'local',
    launch: false,
  });
  const gateway = (await drover.call('GET', '/api/v1/me')).body.gateway.id;
  const outputs = join(drover.dataDir, 'storage', gateway, 'experiments', draft.body.id, 'outputs');
  await mkdir(join(outputs, 'results', 'a'), { recursive: true });
  await writeFile(join(outputs, 'results', 'a', 'b.txt'), 'nested\n');
  await writeFile(join(outputs, 'top.txt'), 'top\n');
  const listed = await drover.call('GET', `/api/v1/experiments/${draft.body.id}/outputs`);
  assert.deepEqual(
    listed.body.items.map((file: { path: string }) => file.path),
    ['results/a/b.txt', 'top.txt'],
  );
  for (const [path, expected] of [
    ['results/a/b.txt', 'nested\n'],
    ['results%2Fa%2Fb.txt', 'nested\n'],
    ['top.txt', 'top\n'],
  ]) {
    const download = await drover.call('GET', `/api/v1/experiments/${draft.body.id}/outputs/${path}`);
    assert.equal(download.status, 200, path);
    assert.equal(download.body, expected, path);
  }
  const absent = await drover.call('GET', `/api/v1/experiments/${draft.body.id}/outputs/results/none.txt`);
  assert.equal(absent.status, 404);
});
