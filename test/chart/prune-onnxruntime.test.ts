import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/helm.js';

// The Dockerfile's prune step, run for real on a copy of the installed onnxruntime-node layout.
const run = promisify(execFile);

describe('scripts/prune-onnxruntime.sh', () => {
  const script = path.join(REPO_ROOT, 'scripts/prune-onnxruntime.sh');
  const installed = path.join(REPO_ROOT, 'node_modules/onnxruntime-node/bin');
  let workDir: string | undefined;
  afterAll(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  /** A copy of the installed package's bin/ folder layout with empty files. */
  async function skeleton(): Promise<string> {
    workDir ??= await mkdtemp(path.join(os.tmpdir(), 'prune-onnxruntime-'));
    const packageDir = await mkdtemp(path.join(workDir, 'onnxruntime-node-'));
    for (const entry of await readdir(installed, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const target = path.join(
        packageDir,
        'bin',
        path.relative(installed, path.join(entry.parentPath, entry.name)),
      );
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, '');
    }
    return packageDir;
  }

  async function remainingFiles(packageDir: string): Promise<string[]> {
    const entries = await readdir(path.join(packageDir, 'bin'), { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => path.relative(packageDir, path.join(e.parentPath, e.name)));
  }

  it('keeps only the linux-x64 binaries of the installed onnxruntime-node layout', async () => {
    const packageDir = await skeleton();
    const before = await remainingFiles(packageDir);
    expect(
      before.some((f) => f.includes('/darwin/') || f.includes('/win32/') || f.includes('/linux/arm64/')),
    ).toBe(true);
    await run(script, [packageDir]);
    const after = await remainingFiles(packageDir);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((f) => /^bin\/napi-v\d+\/linux\/x64\//.test(f))).toBe(true);
    expect(after).toEqual(
      expect.arrayContaining([expect.stringMatching(/linux\/x64\/onnxruntime_binding\.node$/)]),
    );
  });

  it('fails loudly when the layout has no linux-x64 folder', async () => {
    const packageDir = await mkdtemp(
      path.join((workDir ??= await mkdtemp(path.join(os.tmpdir(), 'prune-'))), 'x-'),
    );
    await mkdir(path.join(packageDir, 'bin/napi-v6/darwin/arm64'), { recursive: true });
    await expect(run(script, [packageDir])).rejects.toThrow(/linux\/x64 is missing/);
  });
});
