/**
 * `npm run apikey -- --name svc-online --roles scorer`: makes a new API key and the entry to add to the
 * key list (API_KEYS_FILE or the Vault secret). Only the hash is stored; the key is shown once.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { apiKeyListSchema, hashApiKey } from './api-key-authenticator.js';
import { ROLES } from '../config/security-config.js';

const USAGE = `Usage: npm run apikey -- --name <principal> --roles <role[,role]>

Prints a new random API key and its key-list entry {name, sha256, roles}. Roles: ${ROLES.join(', ')}.`;

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    roles: { type: 'string', default: 'scorer' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help || values.name === undefined) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(values.help ? 0 : 2);
}
const roles = values.roles
  .split(',')
  .map((role) => role.trim())
  .filter(Boolean);
const unknown = roles.filter((role) => !(ROLES as readonly string[]).includes(role));
if (unknown.length > 0) {
  process.stderr.write(`--roles: unknown role ${unknown.join(', ')} (roles: ${ROLES.join(', ')})\n`);
  process.exit(2);
}
const key = `ci_${randomBytes(32).toString('base64url')}`;
const entry = { name: values.name, sha256: hashApiKey(key), roles };
const checked = apiKeyListSchema.safeParse([entry]);
if (!checked.success) {
  process.stderr.write(`--name: ${checked.error.issues[0]?.message ?? 'invalid'}\n`);
  process.exit(2);
}
process.stdout.write(
  `API key (hand it to the caller now; it is not stored anywhere):\n  ${key}\n\n` +
    `Key-list entry (add it to API_KEYS_FILE or the Vault secret):\n  ${JSON.stringify(entry)}\n`,
);
