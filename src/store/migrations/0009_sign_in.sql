-- Sign-in (issue 12, section 4): named API tokens instead of one token per user, each
-- gateway's OpenID Connect provider, the identities that signed in through it, and browser
-- sessions held in an httpOnly cookie.

-- A user's API tokens, for scripts and the CLI: created (shown once) and revoked by the
-- user. `default` is the token an admin issues (POST /users, /users/{name}/token) and the
-- bootstrap token of the platform operator.
create table api_tokens (
  id uuid primary key default gen_random_uuid(),
  user_id text not null references users (id) on delete cascade,
  name text not null,
  -- sha256 of the token; the token itself is never stored
  token_hash text not null unique,
  created_at timestamptz not null default now(),
  -- updated at most once a minute per token
  last_used_at timestamptz,
  unique (user_id, name)
);

-- Every user's token so far becomes their `default` token: existing tokens keep working.
insert into api_tokens (user_id, name, token_hash) select id, 'default', token_hash from users;
alter table users drop column token_hash;

-- A gateway's OpenID Connect provider, set by its admin.
create table identity_providers (
  gateway_id text primary key references gateways (id),
  -- the button's words: "Sign in with <display_name>"
  display_name text not null,
  issuer text not null,
  client_id text not null,
  -- AES-256-GCM under the platform key, as credentials.secret; null for a public client
  client_secret text,
  scopes text[] not null,
  -- the claim whose value becomes the user's name in the gateway
  user_claim text not null default 'sub',
  -- e-mail domains allowed to sign in (the verified `email` claim); empty: any
  allowed_domains text[] not null default '{}',
  -- {"name": claim, "value": text} a user's claims must hold; null: none
  required_claim jsonb,
  updated_at timestamptz not null default now()
);

-- Who signed in through a gateway's provider: (issuer, sub) names a person for good, the
-- user claim may change.
create table user_identities (
  gateway_id text not null references gateways (id),
  issuer text not null,
  subject text not null,
  user_id text not null references users (id) on delete cascade,
  created_at timestamptz not null default now(),
  last_sign_in_at timestamptz not null default now(),
  primary key (gateway_id, issuer, subject)
);
create index user_identities_user on user_identities (user_id);

-- Browser sessions: the cookie holds a random id, this table its sha256 (a stolen table
-- signs no one in), with the CSRF token's sha256 that state-changing requests must send.
create table sessions (
  id_hash text primary key,
  user_id text not null references users (id) on delete cascade,
  csrf_hash text not null,
  created_at timestamptz not null default now(),
  -- updated at most once a minute; idle sessions end (config signIn.sessionIdleMs)
  last_seen_at timestamptz not null default now(),
  -- the absolute end (config signIn.sessionMaxAgeMs)
  expires_at timestamptz not null
);
create index sessions_user on sessions (user_id);
create index sessions_expires on sessions (expires_at);
