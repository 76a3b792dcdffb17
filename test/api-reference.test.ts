/**
 * The API reference is browsable from the running server at /api/v1/docs: Swagger UI over
 * the served document, every file from this server (no CDN, nothing fetched elsewhere),
 * allowed by the server's Content-Security-Policy, and no token needed to read it.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestDrover, type TestDrover } from './harness.ts';

let drover: TestDrover;

before(async () => {
  drover = await startTestDrover();
});
after(async () => {
  await drover?.stop();
});

/** The http(s) URLs in `text` whose host is not the test server's. */
function foreignUrls(text: string, serverUrl: string): string[] {
  const own = new URL(serverUrl).host;
  return [...text.matchAll(/https?:\/\/[^\s"'`)<>]+/g)]
    .map((match) => match[0])
    .filter((url) => {
      try {
        return new URL(url).host !== own;
      } catch {
        return true;
      }
    });
}

it('serves the API reference page and its assets from this server, with no token', async () => {
  const page = await fetch(`${drover.url}/api/v1/docs`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  const html = await page.text();
  assert.deepEqual(foreignUrls(html, drover.url), [], 'the page names no other host');

  // Scripts and stylesheets load from this server only, under the page's own CSP.
  const csp = page.headers.get('content-security-policy') ?? '';
  for (const directive of [
    "default-src 'self'",
    "script-src 'self';",
    "style-src 'self' 'unsafe-inline'",
    "connect-src 'self';",
  ])
    assert.ok(csp.includes(directive), `CSP has ${directive}: ${csp}`);
  // Only the reference pages take inline styles (Swagger UI sets some): the API keeps its policy.
  const api = await fetch(`${drover.url}/api/v1/openapi.json`);
  assert.match(api.headers.get('content-security-policy') ?? '', /style-src 'self'(;|$)/);
  assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>\s*\S/.test(html), 'no inline script (the CSP would block it)');

  const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]);
  assert.ok(
    assets.some((asset) => asset.endsWith('swagger-ui-bundle.js')),
    'the Swagger UI bundle',
  );
  for (const asset of assets) {
    const url = new URL(asset, `${drover.url}/api/v1/docs/`);
    assert.equal(url.host, new URL(drover.url).host, asset);
    const response = await fetch(url);
    assert.equal(response.status, 200, asset);
    const text = await response.text();
    if (asset.endsWith('.css')) {
      const imports = [...text.matchAll(/url\(\s*['"]?(https?:[^'")]+)/g)].map((match) => match[1]);
      assert.deepEqual(imports, [], `${asset} loads nothing from elsewhere`);
    }
    if (asset.endsWith('swagger-initializer.js')) {
      // The page loads the document from here and sends nothing to the public spec validator.
      assert.match(text, /url: resolveUrl\('\.\/json'\)/);
      assert.match(text, /validatorUrl: null/);
    }
  }
});

it('shows the same document the API serves', async () => {
  const [reference, served] = await Promise.all(
    ['/api/v1/docs/json', '/api/v1/openapi.json'].map(async (path) => (await fetch(drover.url + path)).json()),
  );
  assert.deepEqual(reference, served);
  assert.equal((reference as { info: { title: string } }).info.title, 'Drover API');
});
