/**
 * The HTTP client Drover talks to identity providers with. The issuer URL is a gateway
 * admin's input, so every request is checked like a webhook (server-side request forgery:
 * the platform's own services, the cloud's metadata endpoint): each address the host
 * resolves to must be allowed by the platform's policy, and the connection goes to the
 * checked address (no second DNS answer in between). Redirects are not followed; answers
 * larger than 1 MiB are cut off.
 */
import { lookup as lookupAddresses } from 'node:dns/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { AddressPolicy } from '../notifications/address-policy.ts';

/** What openid-client passes to a custom fetch. */
export interface FetchOptions {
  method: string;
  headers: Record<string, string>;
  body?: unknown;
  signal?: AbortSignal;
}

/** The largest answer read from a provider. */
const maxAnswerBytes = 1024 * 1024;

/** Thrown when the host is at an address the policy refuses; the message says which and why. */
export class RefusedAddressError extends Error {
  override name = 'RefusedAddressError';
}

/** The address to connect to: the IP literal, or the host's addresses, each allowed by `policy`. */
export async function vettedAddress(host: string, policy: AddressPolicy): Promise<{ address: string; family: number }> {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  const family = isIP(bare);
  const addresses =
    family !== 0 ? [{ address: bare, family }] : await lookupAddresses(bare, { all: true, verbatim: true });
  if (addresses.length === 0) throw new Error(`${bare} has no address`);
  for (const { address } of addresses) {
    const refusal = policy.refusal(address);
    if (refusal) throw new RefusedAddressError(`${bare === address ? '' : `${bare} resolves to `}${refusal}`);
  }
  return addresses[0];
}

/** A fetch for openid-client (its `customFetch`) that reaches only addresses `policy` allows. */
export function createGuardedFetch(policy: AddressPolicy, timeoutMs: number) {
  return async (input: string, options: FetchOptions): Promise<Response> => {
    const url = new URL(input);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${url.protocol} URLs are not fetched`);
    const address = await vettedAddress(url.hostname, policy);
    const pinned: LookupFunction = (_hostname, lookupOptions, callback) => {
      if ((lookupOptions as { all?: boolean }).all) (callback as any)(null, [address]);
      else callback(null, address.address, address.family);
    };
    const body = requestBody(options.body);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const signals = [AbortSignal.timeout(timeoutMs), ...(options.signal ? [options.signal] : [])];
    return new Promise<Response>((resolve, reject) => {
      const outgoing = request(
        url,
        {
          method: options.method,
          lookup: pinned,
          signal: AbortSignal.any(signals),
          headers: { ...options.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
        },
        (incoming: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          incoming.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxAnswerBytes) {
              incoming.destroy();
              reject(new Error(`${url.host} answered more than ${maxAnswerBytes} bytes`));
            } else chunks.push(chunk);
          });
          incoming.on('end', () => {
            const headers = new Headers();
            for (const [name, value] of Object.entries(incoming.headers)) {
              if (value === undefined) continue;
              for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
            }
            const status = incoming.statusCode ?? 502;
            // A Response cannot carry a body with these statuses.
            const empty = [204, 205, 304].includes(status);
            resolve(new Response(empty ? null : Buffer.concat(chunks), { status, headers }));
          });
          incoming.on('error', reject);
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  };
}

function requestBody(body: unknown): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof URLSearchParams) return Buffer.from(body.toString());
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (body instanceof ArrayBuffer) return Buffer.from(new Uint8Array(body));
  throw new Error('a request body of this kind is not supported');
}
