/**
 * `npm run model -- <command>`: ship and operate models through the ModelAdminService, without touching
 * the database — for a data scientist with an ONNX file, or a CI pipeline.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ClientError, Status } from 'nice-grpc';
import { credentialsToReach } from './cli/server-credentials.js';
import { exitOnUsageError } from './cli/usage-error.js';
import { createModelAdminClient, KillSwitchMode, type AdminModel } from './model-admin-client.js';

const USAGE = `Usage: npm run model -- <command> [options]

Commands:
  list     [--model M]                                  models, versions and their state
  register --dir <models/M/V> [--promote]                register the version in a folder (manifest.json + ONNX file)
  register --model M --version V --onnx F --manifest F [--promote]
  promote  --model M --version V                        make V the default (loaded and warmed first)
  rollback --model M                                    back to the previous default (a pointer flip)
  kill     --model M --mode refuse|previous-version|off [--reason TEXT]
  reload                                                re-read the registry on the answering replica

Connection: --address host:port (default $ADMIN_ADDRESS or localhost:50051). From the environment, never
flags: a credential with the admin role, ADMIN_API_KEY(_FILE) or ADMIN_BEARER_TOKEN(_FILE); TLS with
ADMIN_TLS=tls|plaintext, ADMIN_TLS_CA_FILE, ADMIN_TLS_CERT_FILE + ADMIN_TLS_KEY_FILE (mTLS) and
ADMIN_TLS_SERVER_NAME. A credential goes over plaintext only to localhost, or with ADMIN_TLS=plaintext.`;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    model: { type: 'string' },
    version: { type: 'string' },
    dir: { type: 'string' },
    onnx: { type: 'string' },
    manifest: { type: 'string' },
    promote: { type: 'boolean', default: false },
    mode: { type: 'string' },
    reason: { type: 'string', default: '' },
    address: { type: 'string', default: process.env.ADMIN_ADDRESS ?? 'localhost:50051' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

function usageError(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

function required(name: 'model' | 'version'): string {
  return values[name] ?? usageError(`--${name} is required`);
}

function print(models: readonly AdminModel[]): void {
  for (const model of models) {
    const kill =
      model.killSwitch === KillSwitchMode.KILL_SWITCH_MODE_OFF
        ? ''
        : `  KILL SWITCH ${KillSwitchMode[model.killSwitch].replace('KILL_SWITCH_MODE_', '')}: ${model.killReason}`;
    console.log(
      `${model.model}  default ${model.defaultVersion}  previous ${model.previousVersion || '-'}${kill}`,
    );
    for (const version of model.versions) {
      const marks = [
        version.version === model.defaultVersion ? 'default' : '',
        version.loaded ? 'loaded' : '',
        version.state === 'failed' ? `FAILED: ${version.failureReason}` : '',
      ]
        .filter(Boolean)
        .join(', ');
      const metrics = Object.entries(version.metrics)
        .map(([name, value]) => `${name}=${value.toFixed(4)}`)
        .join(' ');
      console.log(
        `  ${version.version.padEnd(12)} ${version.registeredAt}  ${version.registeredBy.padEnd(20)} ${metrics}  ${marks}`,
      );
    }
  }
}

const [command] = positionals;
if (values.help || command === undefined) {
  console.log(USAGE);
  process.exit(values.help ? 0 : 2);
}
const connection = await credentialsToReach(values.address, process.env, 'ADMIN').catch(
  exitOnUsageError('model'),
);
const client = createModelAdminClient(values.address, connection.clientOptions);

try {
  switch (command) {
    case 'list':
      print((await client.listModelVersions({ model: values.model ?? '' })).models);
      break;
    case 'register': {
      let manifestPath = values.manifest;
      let onnxPath = values.onnx;
      if (values.dir !== undefined) manifestPath = path.join(values.dir, 'manifest.json');
      if (manifestPath === undefined) usageError('register needs --dir, or --manifest and --onnx');
      const manifestJson = await readFile(manifestPath, 'utf8');
      const manifest = JSON.parse(manifestJson) as {
        name?: string;
        version?: string;
        onnx?: { file?: string };
      };
      onnxPath ??= path.join(path.dirname(manifestPath), manifest.onnx?.file ?? 'model.onnx');
      const { model } = await client.registerModelVersion({
        model: values.model ?? manifest.name ?? usageError('--model is required'),
        version: values.version ?? manifest.version ?? usageError('--version is required'),
        onnx: await readFile(onnxPath),
        manifestJson,
        setDefault: values.promote,
      });
      if (model) print([model]);
      break;
    }
    case 'promote': {
      const { model } = await client.setDefaultVersion({
        model: required('model'),
        version: required('version'),
      });
      if (model) print([model]);
      break;
    }
    case 'rollback': {
      const { model } = await client.rollbackModel({ model: required('model') });
      if (model) print([model]);
      break;
    }
    case 'kill': {
      const modes: Record<string, KillSwitchMode> = {
        refuse: KillSwitchMode.KILL_SWITCH_MODE_REFUSE,
        'previous-version': KillSwitchMode.KILL_SWITCH_MODE_PREVIOUS_VERSION,
        off: KillSwitchMode.KILL_SWITCH_MODE_OFF,
      };
      const mode = modes[values.mode ?? ''] ?? usageError('--mode must be refuse, previous-version or off');
      const { model } = await client.setKillSwitch({ model: required('model'), mode, reason: values.reason });
      if (model) print([model]);
      break;
    }
    case 'reload':
      print((await client.reloadModels({})).models);
      break;
    default:
      usageError(`unknown command "${command}"`);
  }
} catch (error) {
  if (!(error instanceof ClientError)) throw error;
  console.error(`${command}: ${Status[error.code]}: ${error.details}`);
  process.exitCode = 1;
} finally {
  client.close();
}
