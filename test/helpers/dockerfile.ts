/**
 * A small Dockerfile reader for the image tests (no Docker engine here): stages, instructions, COPY
 * arguments, and Docker's .dockerignore matching.
 */

/** One instruction, continuation lines joined. */
export interface Instruction {
  /** Upper-case keyword: `RUN`, `COPY`, `ENV`… */
  readonly keyword: string;
  readonly args: string;
}

/** One `FROM` stage. */
export interface Stage {
  readonly name: string | undefined;
  /** The base image, with global `ARG` defaults substituted. */
  readonly image: string;
  readonly instructions: Instruction[];
}

/** A COPY: sources then destination; `from` is the `--from` stage, if any. */
export interface Copy {
  readonly from: string | undefined;
  readonly sources: string[];
  readonly destination: string;
}

/** Splits a Dockerfile into stages of instructions (continuations joined, comments dropped). */
export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (line.trimStart().startsWith('#') || line.trim() === '') continue;
    pending += line.replace(/\\$/, ' ');
    if (!line.endsWith('\\')) {
      logical.push(pending.trim());
      pending = '';
    }
  }
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword = '', rest = ''] = /^(\S+)\s+(.*)$/.exec(line) ?? [];
    const upper = keyword.toUpperCase();
    if (upper === 'ARG' && stages.length === 0) {
      const [name = '', value = ''] = rest.split('=');
      args.set(name, value);
    } else if (upper === 'FROM') {
      const [image = '', , name] = rest.split(/\s+/);
      const resolved = image.replace(/\$\{(\w+)\}/g, (_, arg: string) => args.get(arg) ?? '');
      stages.push({ name, image: resolved, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ keyword: upper, args: rest });
    }
  }
  return stages;
}

/** The instructions of one keyword in a stage. */
export function instructionsOf(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

/** The COPY instructions of a stage. */
export function copiesOf(stage: Stage): Copy[] {
  return instructionsOf(stage, 'COPY').map(({ args }) => {
    const words = args.split(/\s+/);
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
    const paths = words.filter((w) => !w.startsWith('--'));
    return { from, sources: paths.slice(0, -1), destination: paths.at(-1) ?? '' };
  });
}

/**
 * Docker's .dockerignore rule for a context-relative path: the last pattern that matches the path or one
 * of its parent folders decides; `!` re-includes.
 */
export function dockerignoreMatcher(dockerignore: string): (file: string) => boolean {
  const rules = dockerignore
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negated = line.startsWith('!');
      const pattern = negated ? line.slice(1) : line;
      const body = pattern
        .split('**/')
        .map((part) =>
          part
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '[^/]*')
            .replace(/\?/g, '[^/]'),
        )
        .join('(?:.*/)?');
      return { negated, regex: new RegExp(`^${body}$`) };
    });
  return (file) => {
    const parts = file.split('/');
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const { negated, regex } of rules) {
      if (candidates.some((candidate) => regex.test(candidate))) ignored = !negated;
    }
    return ignored;
  };
}

/**
 * The shell commands of a stage's RUN instructions, split at `&&`, `||` and `;` (enough for this
 * Dockerfile's one-line commands; no quoting rules), whitespace collapsed.
 */
export function shellCommandsOf(stage: Stage): string[] {
  return instructionsOf(stage, 'RUN')
    .flatMap((i) => i.args.split(/&&|\|\||;/))
    .map((command) => command.trim().replace(/\s+/g, ' '))
    .filter((command) => command !== '');
}
