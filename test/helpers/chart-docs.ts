import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './helm.js';
import { TOOLS_BIN } from './tools.js';

// The chart README as helm-docs generates it: `npm run chart:docs` (the one place its flags live) with
// --dry-run, which prints the README instead of writing it.

const run = promisify(execFile);

/**
 * What `npm run chart:docs` would write to helm/customer-intelligence/README.md now.
 *
 * @throws naming the command that builds helm-docs, when the pinned binary is missing (the script would build
 *   it, which takes a minute; tests never build tools), or with helm-docs' stderr when it fails.
 */
export async function generatedChartReadme(): Promise<string> {
  const binary = path.join(TOOLS_BIN, 'helm-docs');
  if (!existsSync(binary)) throw new Error(`${binary} is missing; run scripts/tools.sh helm-docs`);
  try {
    const { stdout } = await run('npm', ['run', '--silent', 'chart:docs', '--', '--dry-run'], {
      cwd: REPO_ROOT,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(`npm run chart:docs -- --dry-run failed:\n${stderr ?? ''}`);
  }
}

/** One row of the chart README's values table. */
export interface ValueRow {
  readonly key: string;
  readonly type: string;
  readonly default: string;
  readonly description: string;
  /** Number of cells: 4 unless a `|` in the text split the row. */
  readonly cells: number;
}

/** The rows of the values table (`| \`key\` | type | default | description |`) of a chart README. */
export function valueRows(readme: string): ValueRow[] {
  return [...readme.matchAll(/^\| `([^`]+)` \| (.*) \|$/gm)].map((match) => {
    const rest = match[2]!.split(' | ');
    return {
      key: match[1]!,
      type: rest[0] ?? '',
      default: rest[1] ?? '',
      description: rest.slice(2).join(' | '),
      cells: rest.length + 1,
    };
  });
}
