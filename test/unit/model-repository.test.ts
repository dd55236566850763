import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Status } from 'nice-grpc-common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../server/src/errors.js';
import type { ModelManifestInput } from '../../server/src/inference/model-manifest.js';
import { ModelLoadError } from '../../server/src/inference/onnx-model.js';
import { loadFileModelRepository } from '../helpers/file-model-repository.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ci-models-'));
  await cp('models', dir, { recursive: true });
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function editManifest(model: string, edit: (manifest: ModelManifestInput) => void): Promise<void> {
  const file = path.join(dir, model, '1', 'manifest.json');
  const manifest = JSON.parse(await readFile(file, 'utf8')) as ModelManifestInput;
  edit(manifest);
  await writeFile(file, JSON.stringify(manifest));
}

describe('the file-system model repository', () => {
  it('loads and warms the bundled models', async () => {
    const models = await loadFileModelRepository(dir);
    expect(models.map((m) => `${m.name}@${m.defaultVersion}`).sort()).toEqual(['churn@1', 'clv@1']);
    const churn = models.find((m) => m.name === 'churn')!.versions.get('1')!;
    const { scores, contributions } = await churn.predict(
      Float32Array.from(churn.manifest.warmupRows.flat()),
      2,
    );
    expect(scores).toHaveLength(2);
    expect(contributions).toHaveLength(2 * churn.featureNames.length);
    await Promise.all(models.flatMap((m) => [...m.versions.values()].map((v) => v.close())));
  });

  it('releases a closed model after its running call, and refuses later calls as retryable', async () => {
    const models = await loadFileModelRepository(dir);
    const churn = models.find((m) => m.name === 'churn')!.versions.get('1')!;
    const rows = Float32Array.from(churn.manifest.warmupRows.flat());
    const running = churn.predict(rows, 2);
    const closed = churn.close();
    expect((await running).scores).toHaveLength(2);
    await closed;
    const error = await churn.predict(rows, 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ status: Status.UNAVAILABLE, reason: 'ERR_MODEL_RETIRED' });
    await Promise.all(models.flatMap((m) => [...m.versions.values()].map((v) => v.close())));
  });

  it('serves the version model.json names as default', async () => {
    await cp(path.join(dir, 'clv', '1'), path.join(dir, 'clv', '2'), { recursive: true });
    const v2 = path.join(dir, 'clv', '2', 'manifest.json');
    await writeFile(v2, (await readFile(v2, 'utf8')).replace('"version": "1"', '"version": "2"'));
    let models = await loadFileModelRepository(dir);
    expect(models.find((m) => m.name === 'clv')!.defaultVersion).toBe('2'); // highest without model.json
    await writeFile(path.join(dir, 'clv', 'model.json'), JSON.stringify({ defaultVersion: '1' }));
    models = await loadFileModelRepository(dir);
    expect(models.find((m) => m.name === 'clv')!.defaultVersion).toBe('1');
  });

  it.each([
    [
      'an ONNX file that does not match its SHA-256',
      async () => writeFile(path.join(dir, 'churn', '1', 'model.onnx'), 'not onnx'),
      /SHA-256 .* does not match/,
    ],
    [
      'corrupt ONNX bytes with a matching checksum',
      async () => {
        const bytes = Buffer.from('definitely not a protobuf model');
        await writeFile(path.join(dir, 'churn', '1', 'model.onnx'), bytes);
        const { createHash } = await import('node:crypto');
        await editManifest(
          'churn',
          (m) => (m.onnx.sha256 = createHash('sha256').update(bytes).digest('hex')),
        );
      },
      /ONNX Runtime cannot load it/,
    ],
    [
      'a manifest naming an output the graph lacks',
      () => editManifest('churn', (m) => (m.outputs.score.name = 'probability')),
      /has no output "probability"/,
    ],
    [
      'a manifest with a missing field',
      () => editManifest('clv', (m) => delete (m as Partial<ModelManifestInput>).features),
      /not a valid manifest: features/,
    ],
    [
      'a version folder that disagrees with its manifest',
      () => editManifest('clv', (m) => (m.version = '7')),
      /manifest says clv@7, folder says clv@1/,
    ],
  ])('refuses %s, naming the file', async (_, breakIt, message) => {
    await breakIt();
    const error = await loadFileModelRepository(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toMatch(message);
  });
});
