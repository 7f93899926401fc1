/**
 * Which addresses a local engine listens on, read from the kernel's socket tables, so that
 * `npm start` can say plainly when one is reachable from other machines: DynamoDB Local has
 * no setting for its address (its options are only `-port`, and its Jetty server binds every
 * interface), while kinesis-mock is made to listen on 127.0.0.1 (`local/loopback-only.cjs`).
 */
import { readFile } from 'node:fs/promises';

/** Where a port listens: this machine only, every interface, or unknown (no /proc/net, not Linux). */
export type Exposure = 'loopback' | 'network' | 'unknown';

const LISTEN = '0A';

/** `0100007F` (IPv4, little-endian) or 32 hex digits (IPv6, four little-endian words) as text. */
function decodeAddress(hex: string): string {
  if (hex.length === 8) {
    return (hex.match(/../g) ?? [])
      .reverse()
      .map((byte) => Number.parseInt(byte, 16))
      .join('.');
  }
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((word) => (word.match(/../g) ?? []).reverse());
  const groups = (bytes.join('').match(/.{4}/g) ?? []).map((group) =>
    Number.parseInt(group, 16).toString(16),
  );
  return groups.join(':');
}

/**
 * The local addresses of the sockets listening on `port`, as `127.0.0.1`, `0.0.0.0`, `0:0:…:1`
 * or `0:0:…:0`; undefined when the socket tables cannot be read.
 */
export async function listeningAddresses(port: number): Promise<string[] | undefined> {
  const tables = await Promise.all(
    ['/proc/net/tcp', '/proc/net/tcp6'].map((path) => readFile(path, 'utf8').catch(() => undefined)),
  );
  if (tables.every((table) => table === undefined)) return undefined;
  const addresses: string[] = [];
  for (const line of tables.flatMap((table) => table?.split('\n').slice(1) ?? [])) {
    const [, local, , state] = line.trim().split(/\s+/);
    const [address, portHex] = local?.split(':') ?? [];
    if (state === LISTEN && address && Number.parseInt(portHex ?? '', 16) === port) {
      addresses.push(decodeAddress(address));
    }
  }
  return addresses;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|0:0:0:0:0:0:0:1|0:0:0:0:0:ffff:7f\w*:\w+)$/;

/** Whether `port` can be reached from other machines, as far as this machine's tables tell. */
export async function exposureOf(port: number): Promise<Exposure> {
  const addresses = await listeningAddresses(port);
  if (!addresses || addresses.length === 0) return 'unknown';
  return addresses.every((address) => LOOPBACK.test(address)) ? 'loopback' : 'network';
}

/**
 * What `npm start` prints about the engines other machines could reach: a line for each
 * that listens beyond the loopback interface, or whose addresses cannot be read; empty when
 * all listen on this machine only.
 */
export async function exposureNotice(engines: { name: string; endpoint: string }[]): Promise<string> {
  const lines = await Promise.all(
    engines.map(async ({ name, endpoint }) => {
      if (!URL.canParse(endpoint)) return '';
      const exposure = await exposureOf(Number(new URL(endpoint).port));
      if (exposure === 'network') {
        return `  ! ${name} listens on every network interface, not only on this machine: other machines can reach it unless a firewall stops them.`;
      }
      if (exposure === 'unknown') {
        return `  ! could not read which addresses ${name} listens on (no /proc/net/tcp here): assume other machines can reach it.`;
      }
      return '';
    }),
  );
  return lines.filter((line) => line !== '').join('\n');
}
