/**
 * Which addresses a webhook may reach: the platform's guard against server-side request
 * forgery (a gateway user pointing a webhook at the platform's own services, the cloud's
 * metadata endpoint, a database on the private network). Checked on every address a
 * webhook's host name resolves to, at each send, and the connection goes to the checked
 * address (no second look-up a DNS answer could change in between).
 */
import { BlockList, isIP } from 'node:net';

/**
 * Ranges no webhook reaches unless the platform allows them (`allowedNetworks`): loopback,
 * private (RFC 1918, unique-local), link-local (cloud metadata at 169.254.169.254),
 * carrier-grade NAT, "this network", benchmarking, documentation, multicast, reserved, and
 * NAT64 (which reaches IPv4 addresses through an IPv6 one).
 */
export const nonPublicNetworks: readonly string[] = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.0.2.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/3',
  '::/127',
  '64:ff9b::/96',
  '64:ff9b:1::/48',
  '100::/64',
  '2001:db8::/32',
  'fc00::/7',
  'fe80::/10',
  'fec0::/10',
  'ff00::/8',
];

/** Decides whether a webhook may connect to an IP address. */
export interface AddressPolicy {
  /** Null when `address` may be reached, else why not (for the delivery log). */
  refusal(address: string): string | null;
}

/**
 * The policy of config `notifications.webhook`: an address in `deniedNetworks` is refused;
 * else one in `allowedNetworks` is allowed; else one in `nonPublicNetworks` is refused;
 * else (a public address) allowed. An IPv4-mapped IPv6 address is judged as its IPv4 one.
 * @throws {Error} naming the entry when a range is not `address/prefix` or a plain address.
 */
export function createAddressPolicy(settings: {
  allowedNetworks: readonly string[];
  deniedNetworks: readonly string[];
}): AddressPolicy {
  const allowed = blockListOf(settings.allowedNetworks, 'notifications.webhook.allowedNetworks');
  const denied = blockListOf(settings.deniedNetworks, 'notifications.webhook.deniedNetworks');
  const nonPublic = blockListOf(nonPublicNetworks, 'nonPublicNetworks');
  return {
    refusal(raw) {
      const address = unmapped(raw);
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (isIP(address) === 0) return `${raw} is not an IP address`;
      if (denied.check(address, family)) return `${raw} is in a range the platform denies to webhooks`;
      if (allowed.check(address, family)) return null;
      if (nonPublic.check(address, family)) {
        return `${raw} is not a public address; webhooks reach public addresses only, unless the platform allows the range (notifications.webhook.allowedNetworks)`;
      }
      return null;
    },
  };
}

/** `::ffff:10.0.0.1` as `10.0.0.1`; any other address as it is. */
function unmapped(address: string): string {
  const match = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return match ? match[1] : address;
}

function blockListOf(ranges: readonly string[], setting: string): BlockList {
  const list = new BlockList();
  for (const range of ranges) {
    const [address, prefixText] = range.trim().split('/');
    const family = isIP(address) === 6 ? 'ipv6' : isIP(address) === 4 ? 'ipv4' : null;
    const prefix = prefixText === undefined ? (family === 'ipv6' ? 128 : 32) : Number(prefixText);
    const maxPrefix = family === 'ipv6' ? 128 : 32;
    if (family === null || !Number.isInteger(prefix) || prefix < 0 || prefix > maxPrefix || prefixText === '') {
      throw new Error(`${setting}: ${JSON.stringify(range)} is not an address range such as 10.0.0.0/8 or fd00::/8`);
    }
    list.addSubnet(address, prefix, family);
  }
  return list;
}
