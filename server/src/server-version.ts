import { readFileSync } from 'node:fs';

/** The server's package name and version, as reported by the Open Inference Protocol's ServerMetadata. */
export interface ServerVersion {
  readonly name: string;
  readonly version: string;
}

/**
 * Reads the name and version from the nearest `package.json` above this file. Walking up works from the
 * sources (`server/src/`) and from the compiled image (`/app/dist/server/src/`, with `/app/package.json`).
 *
 * @returns `{ name: 'customer-intelligence', version: 'unknown' }` when no readable package.json is found.
 */
export function readServerVersion(): ServerVersion {
  for (let dir = new URL('./', import.meta.url); ; dir = new URL('../', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as Partial<ServerVersion>;
      if (typeof pkg.name === 'string' && typeof pkg.version === 'string') {
        return { name: pkg.name, version: pkg.version };
      }
    } catch {
      // no package.json here: keep walking up
    }
    if (dir.pathname === '/') return { name: 'customer-intelligence', version: 'unknown' };
  }
}
