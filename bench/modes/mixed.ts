import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { ghz } from '../../test/helpers/ghz.js';
import { measure, startServer, stop, table, write, type Row } from '../perf/harness.js';
import {
  byIdRequest,
  CHUNK,
  inlineRequest,
  SCORE,
  SCORING,
  STREAM,
  streamRequest,
} from '../perf/scenarios.js';

const run = promisify(execFile);

/** Online load in this mode: a steady rate, as services call the server, not as fast as possible. */
const ONLINE = { rps: 300, duration: '15s' };

/** The online p99s alone and while a full-speed batch stream runs against `batchAddress`. */
interface Comparison {
  readonly quiet: Row[];
  readonly busy: Row[];
  readonly batchCustomersPerSecond: number;
}

/**
 * `npm run bench -- --mixed`: online p99 (inline and by id, at a steady rate) alone and while a full-speed
 * batch stream runs, in two topologies:
 * - **one server**: the batch stream goes to the server that serves the online calls (its batch lane);
 * - **a batch replica**: the stream goes to a second server process, as when the scoring jobs dial
 *   replicas of their own (README, "Batch traffic on replicas of its own"). The cores stand in for two
 *   nodes (`taskset`): core 0 runs the online server, core 1 the batch server, the batch load's ghz and
 *   Postgres (shared by both, as in a cluster); the online load's ghz floats.
 */
export async function mixed(databaseUrl: string): Promise<void> {
  const shared = await startServer(databaseUrl);
  let oneServer: Comparison;
  try {
    oneServer = await compare(shared.address, shared.server.child.pid!, shared.address);
  } finally {
    await stop(shared.server);
  }

  const online = await startServer(databaseUrl);
  const batch = await startServer(databaseUrl).catch(async (error: unknown) => {
    await stop(online.server);
    throw error;
  });
  let replica: Comparison;
  try {
    await pin([online.server.child.pid!], 0);
    await pin([batch.server.child.pid!, ...(await postgresProcesses(databaseUrl))], 1);
    replica = await compare(online.address, online.server.child.pid!, batch.address, '1');
  } finally {
    // A failed run must not leave servers behind (they would compete with whatever runs next).
    await stop(online.server);
    await stop(batch.server);
  }

  const change = (comparison: Comparison, i: number) =>
    comparison.busy[i]!.result.p99Ms / comparison.quiet[i]!.result.p99Ms - 1;
  const summary = (comparison: Comparison) => ({
    quiet: comparison.quiet.map((row) => row.result),
    withBatch: comparison.busy.map((row) => row.result),
    batchCustomersPerSecond: comparison.batchCustomersPerSecond,
    p99Change: { inline: change(comparison, 0), byId: change(comparison, 1) },
  });
  const results = {
    date: new Date().toISOString(),
    oneServer: summary(oneServer),
    batchReplica: summary(replica),
  };
  const percent = (value: number) => `${(value * 100).toFixed(1)} %`;
  const section = (title: string, comparison: Comparison, key: 'oneServer' | 'batchReplica') => `## ${title}

${table([comparison.quiet[0]!, comparison.busy[0]!, comparison.quiet[1]!, comparison.busy[1]!])}

Batch meanwhile: ${comparison.batchCustomersPerSecond} customers/s. Online p99 change: inline **${percent(results[key].p99Change.inline)}**, by id **${percent(results[key].p99Change.byId)}**.
`;
  const markdown = `# Online latency while a batch stream runs (${results.date})

${section('One server: the batch stream on the online server', oneServer, 'oneServer')}
${section('A batch replica: the stream on a second server; one core each', replica, 'batchReplica')}`;
  await write('mixed', results, markdown);
}

/** Online p99 at the online server alone, then while a 2-stream batch (10×100 by id per call) runs at `batchAddress`. */
async function compare(
  address: string,
  pid: number,
  batchAddress: string,
  batchCpus?: string,
): Promise<Comparison> {
  const online = [
    { name: 'Score inline', run: { address, call: SCORE, proto: SCORING, data: inlineRequest } },
    { name: 'Score by id', run: { address, call: SCORE, proto: SCORING, data: byIdRequest } },
  ];
  const quiet: Row[] = [];
  for (const { name, run } of online) {
    quiet.push(await measure('server', pid, `${name} at ${ONLINE.rps}/s, alone`, run, 16, ONLINE));
  }
  const batch = ghz({
    address: batchAddress,
    call: STREAM,
    proto: SCORING,
    data: streamRequest,
    concurrency: 2,
    duration: '37s',
    ...(batchCpus === undefined ? {} : { cpus: batchCpus }),
  });
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const busy: Row[] = [];
  for (const { name, run } of online) {
    busy.push(
      await measure('server', pid, `${name} at ${ONLINE.rps}/s, batch stream running`, run, 16, ONLINE),
    );
  }
  const batchResult = await batch;
  return { quiet, busy, batchCustomersPerSecond: Math.round(batchResult.rps * 10 * CHUNK) };
}

/** Pins every thread of these processes to one CPU (threads and processes they start later inherit it). */
async function pin(pids: readonly number[], cpu: number): Promise<void> {
  for (const pid of pids) {
    await run('taskset', ['--all-tasks', '--pid', '--cpu-list', String(cpu), String(pid)]);
  }
}

/** The Postgres server's processes: the postmaster (found as the parent of a backend) and its children. */
async function postgresProcesses(databaseUrl: string): Promise<number[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const stat = await readFile(`/proc/${rows[0]!.pid}/stat`, 'utf8').finally(() => client.end());
  const postmaster = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  const { stdout } = await run('pgrep', ['--parent', String(postmaster)]);
  return [postmaster, ...stdout.split('\n').filter(Boolean).map(Number)];
}
