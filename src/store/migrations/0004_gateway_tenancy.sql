-- Gateways as real tenants: the platform operator, disabled gateways, who registered an
-- application (only the operator's may run on the Drover host), and stored SSH credentials.

-- A disabled gateway's tokens are refused; its data stays.
alter table gateways add column disabled_at timestamptz;

-- The platform operator (the bootstrap token's user): creates gateways, owns the host.
alter table users add column operator boolean not null default false;

-- Applications registered before gateways were tenants were registered by the one admin,
-- who was the operator; from now on only the operator's may run on a `local` resource.
alter table applications add column registered_by_operator boolean not null default false;
update applications set registered_by_operator = true;

create table credentials (
  gateway_id text not null references gateways (id),
  name text not null,
  kind text not null default 'ssh-key' check (kind in ('ssh-key')),
  -- OpenSSH public key line, shown to admins to install on the cluster
  public_key text not null,
  -- the private key, AES-256-GCM under the platform key: base64 of iv (12) | tag (16) | ciphertext
  secret text not null,
  created_at timestamptz not null default now(),
  primary key (gateway_id, name)
);
