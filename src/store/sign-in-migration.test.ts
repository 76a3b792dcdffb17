/**
 * Migration 0009 (sign-in) on a store of the version before: every user's one token becomes
 * their `default` API token, so existing tokens (the bootstrap token, users' tokens the CLI
 * keeps) go on working, and `users.token_hash` is gone.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { openTestStore } from '../../test/test-database.ts';
import { authenticate, hashToken } from '../catalogue/users.ts';
import { listApiTokens } from '../catalogue/api-tokens.ts';
import { migrate } from './migrate.ts';
import type { Store } from './port.ts';

let store: Store;
before(async () => {
  store = await openTestStore({ migrated: false });
});
after(async () => {
  await store?.close();
});

it('keeps every token of the version before working, as its user’s `default` token', async () => {
  await migrate(store, { through: 8 });
  await store.query(`insert into gateways (id, name) values ('lab', 'Lab')`);
  const users = [
    { name: 'admin', role: 'admin', token: 'drv_operator-token-before-0009', operator: true },
    { name: 'ada', role: 'user', token: 'drv_ada-token-before-0009', operator: false },
  ];
  for (const user of users) {
    await store.query(
      `insert into users (gateway_id, name, role, token_hash, operator) values ('lab', $1, $2, $3, $4)`,
      [user.name, user.role, hashToken(user.token), user.operator],
    );
  }

  const applied = await migrate(store);
  assert.ok(applied.includes(9), `0009 applied (applied: ${applied.join(', ')})`);
  for (const user of users) {
    const principal = await authenticate(store, user.token);
    assert.equal(principal?.name, user.name);
    assert.equal(principal?.operator, user.operator);
    assert.deepEqual(
      (await listApiTokens(store, principal!.userId)).map((token) => token.name),
      ['default'],
    );
  }
  const columns = await store.query(
    `select 1 from information_schema.columns where table_name = 'users' and column_name = 'token_hash'`,
  );
  assert.equal(columns.length, 0, 'users.token_hash is dropped: tokens live in api_tokens only');
  assert.equal(await authenticate(store, 'drv_not-a-token'), null);
});
