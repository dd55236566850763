import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';

/**
 * A small stand-in for Vault's HTTP API — MOCK: neither OpenBao (not served by the Go module proxy here)
 * nor HashiCorp Vault (its module zip lacks the api/ and sdk/ submodules its go.mod replaces, and the
 * published versions of those do not compile against it) can be built on this machine. It implements
 * exactly the endpoints the server's node-vault client calls, with Vault's request and response shapes:
 *
 * - `POST /v1/auth/kubernetes/login` (role + service-account JWT) and `GET /v1/auth/token/lookup-self`,
 *   `POST /v1/auth/token/renew-self` for the client token;
 * - `GET /v1/<kv mount>/data/<path>` (KV v2);
 * - `GET /v1/database/creds/<role>`, `PUT /v1/sys/leases/renew` and `PUT /v1/sys/leases/revoke`: real Postgres roles are created
 *   (`VALID UNTIL` the lease end), renewals are capped by a max TTL, and at expiry the role's sessions
 *   are terminated and the role dropped — as Vault's revocation does. A server that does not rotate in
 *   time therefore fails for real.
 */
export interface FakeVault {
  readonly address: string;
  /** Contents of the KV v2 secret at `secret/customer-intelligence`; replace to rotate. */
  kv: Record<string, string>;
  /** Usernames issued so far, oldest first. */
  readonly issued: string[];
  /** Usernames whose lease expired and were revoked. */
  readonly revoked: string[];
  /** While true, every request gets a connection reset (Vault unreachable). */
  down: boolean;
  close(): Promise<void>;
}

export interface FakeVaultOptions {
  /** Superuser connection string of the Postgres the database role lives in. */
  readonly adminUrl: string;
  /** The service-account token the Kubernetes login accepts. */
  readonly serviceAccountToken: () => string;
  readonly role: string;
  readonly tokenTtlS: number;
  readonly leaseTtlS: number;
  readonly leaseMaxTtlS: number;
}

interface Lease {
  readonly username: string;
  readonly issuedAt: number;
  expiresAt: number;
  timer: NodeJS.Timeout;
}

export async function startFakeVault(options: FakeVaultOptions): Promise<FakeVault> {
  const admin = new pg.Client({ connectionString: options.adminUrl });
  await admin.connect();
  const tokens = new Set<string>();
  const leases = new Map<string, Lease>();
  const state = {
    kv: {} as Record<string, string>,
    issued: [] as string[],
    revoked: [] as string[],
    down: false,
  };

  const revoke = async (leaseId: string) => {
    const lease = leases.get(leaseId);
    if (lease === undefined) return;
    leases.delete(leaseId);
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [
      lease.username,
    ]);
    await admin.query(`DROP OWNED BY "${lease.username}"`);
    await admin.query(`DROP ROLE "${lease.username}"`);
    state.revoked.push(lease.username);
  };
  const scheduleRevocation = (leaseId: string, lease: Lease) => {
    clearTimeout(lease.timer);
    lease.timer = setTimeout(() => void revoke(leaseId).catch(() => undefined), lease.expiresAt - Date.now());
  };

  async function handle(
    method: string,
    url: string,
    body: Record<string, unknown>,
    token: string | undefined,
  ) {
    if (url === '/v1/auth/kubernetes/login' && method === 'POST') {
      if (body.role !== options.role || body.jwt !== options.serviceAccountToken())
        return [403, { errors: ['permission denied'] }] as const;
      const clientToken = `s.${randomBytes(12).toString('hex')}`;
      tokens.add(clientToken);
      return [
        200,
        {
          auth: {
            client_token: clientToken,
            lease_duration: options.tokenTtlS,
            renewable: true,
            policies: ['ci'],
          },
        },
      ] as const;
    }
    if (token === undefined || !tokens.has(token)) return [403, { errors: ['permission denied'] }] as const;
    if (url === '/v1/auth/token/lookup-self') return [200, { data: { ttl: options.tokenTtlS } }] as const;
    if (url === '/v1/auth/token/renew-self') {
      return [
        200,
        { auth: { client_token: token, lease_duration: options.tokenTtlS, renewable: true } },
      ] as const;
    }
    if (url === '/v1/secret/data/customer-intelligence' && method === 'GET') {
      return [200, { data: { data: state.kv, metadata: { version: 1 } } }] as const;
    }
    if (url === '/v1/database/creds/ci-server' && method === 'GET') {
      const username = `v-ci-${randomBytes(5).toString('hex')}`;
      const password = randomBytes(18).toString('base64url');
      const expiresAt = Date.now() + options.leaseTtlS * 1000;
      await admin.query(
        `CREATE ROLE "${username}" LOGIN PASSWORD '${password}' VALID UNTIL '${new Date(expiresAt + 60_000).toISOString()}'`,
      );
      // As the README's creation statement: a login role with the server's least privileges, nothing else.
      await admin.query(`GRANT customer_intelligence_server TO "${username}"`);
      const leaseId = `database/creds/ci-server/${randomBytes(8).toString('hex')}`;
      const lease: Lease = {
        username,
        issuedAt: Date.now(),
        expiresAt,
        timer: setTimeout(() => undefined, 0),
      };
      leases.set(leaseId, lease);
      scheduleRevocation(leaseId, lease);
      state.issued.push(username);
      return [
        200,
        {
          lease_id: leaseId,
          lease_duration: options.leaseTtlS,
          renewable: true,
          data: { username, password },
        },
      ] as const;
    }
    if (url === '/v1/sys/leases/revoke' && (method === 'PUT' || method === 'POST')) {
      await revoke(String(body.lease_id));
      return [204, {}] as const;
    }
    if (url === '/v1/sys/leases/renew' && (method === 'PUT' || method === 'POST')) {
      const lease = leases.get(String(body.lease_id));
      if (lease === undefined) return [400, { errors: ['lease not found'] }] as const;
      const increment = Number(body.increment ?? options.leaseTtlS) * 1000;
      lease.expiresAt = Math.min(Date.now() + increment, lease.issuedAt + options.leaseMaxTtlS * 1000);
      scheduleRevocation(String(body.lease_id), lease);
      const granted = Math.max(0, Math.floor((lease.expiresAt - Date.now()) / 1000));
      return [200, { lease_id: body.lease_id, lease_duration: granted, renewable: true }] as const;
    }
    return [404, { errors: [`no handler for ${method} ${url}`] }] as const;
  }

  const server = http.createServer((request, response) => {
    if (state.down) {
      request.socket.destroy();
      return;
    }
    let raw = '';
    request.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    request.on('end', () => {
      const body = raw === '' ? {} : (JSON.parse(raw) as Record<string, unknown>);
      const token = request.headers['x-vault-token'];
      handle(
        request.method ?? 'GET',
        request.url ?? '/',
        body,
        typeof token === 'string' ? token : undefined,
      ).then(
        ([status, payload]) =>
          response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload)),
        (error: unknown) => response.writeHead(500).end(JSON.stringify({ errors: [String(error)] })),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get kv() {
      return state.kv;
    },
    set kv(value) {
      state.kv = value;
    },
    issued: state.issued,
    revoked: state.revoked,
    get down() {
      return state.down;
    },
    set down(value) {
      state.down = value;
    },
    async close() {
      for (const lease of leases.values()) clearTimeout(lease.timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await admin.end();
    },
  };
}
