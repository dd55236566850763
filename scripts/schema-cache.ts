/**
 * The offline cache the schema generators share (`k8s-schemas.ts` for Kubernetes kinds, `crd-schemas.ts`
 * for the custom resources the chart renders): where their sources come from (Go modules, through the
 * module cache) and how a finished folder of schemas is written and recognised.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * Downloads `module@version` (or finds it in the Go module cache); returns the folder holding its files.
 *
 * @throws when `go` is not installed or the module cannot be downloaded.
 */
export async function goModuleDir(moduleAtVersion: string, purpose: string): Promise<string> {
  let stdout: string;
  try {
    // Run outside any Go module so no go.mod or workspace interferes.
    ({ stdout } = await promisify(execFile)('go', ['mod', 'download', '-json', moduleAtVersion], {
      cwd: os.tmpdir(),
      maxBuffer: 16 * 1024 * 1024,
    }));
  } catch (error) {
    // On failure `go mod download -json` still prints the module with an Error field.
    const failure = error as NodeJS.ErrnoException & { stdout?: string };
    if (failure.code === 'ENOENT')
      throw new Error(`go is needed to download ${moduleAtVersion} (${purpose})`);
    stdout = failure.stdout || '{}';
  }
  const info = JSON.parse(stdout) as { Dir?: string; Error?: string };
  if (info.Error || !info.Dir)
    throw new Error(`go mod download ${moduleAtVersion}: ${info.Error ?? 'no Dir reported'}`);
  return info.Dir;
}

/**
 * Written last into a finished folder. Its content names the source and the converter revision, so a
 * half-written folder, or one made from another source or by an older converter, is regenerated.
 */
const STAMP_FILE = '.complete';

/** Whether `dir` is a finished folder made from exactly what `stamp` describes. */
export async function isCurrent(dir: string, stamp: string): Promise<boolean> {
  return (await readFile(path.join(dir, STAMP_FILE), 'utf8').catch(() => undefined)) === stamp;
}

/**
 * Writes `files` (relative path → JSON value) as the folder `dir`, replacing a stale one. Safe to call from
 * several processes at once: each writes a private staging folder next to `dir` and renames it into place.
 */
export async function writeSchemaFolder(
  dir: string,
  files: ReadonlyMap<string, unknown>,
  stamp: string,
): Promise<void> {
  const parent = path.dirname(dir);
  await mkdir(parent, { recursive: true });
  const staging = path.join(parent, `.staging-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(staging);
  try {
    for (const [name, schema] of files) {
      const file = path.join(staging, name);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, JSON.stringify(schema));
    }
    await writeFile(path.join(staging, STAMP_FILE), stamp);
    await rm(dir, { recursive: true, force: true }); // stale, half-written or forced
    try {
      await rename(staging, dir);
    } catch (error) {
      // Another process finished first: its folder is complete and equivalent, keep it.
      if (!(await isCurrent(dir, stamp))) throw error;
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
