import type { Logger } from '../../../server/src/telemetry/logger.js';

/** A shard's progress, as the runner reports it after each commit. */
export interface Progress {
  /** Customers with a committed outcome (scored + failed), including earlier attempts of the run. */
  readonly done: number;
  readonly failed: number;
}

/** Receives progress updates; `finish()` stops its timers and ends its output. */
export interface ProgressReporter {
  update(progress: Progress): void;
  finish(): void;
}

/** Options of {@link createProgressReporter}. */
export interface ProgressReporterOptions {
  /** Prefix of the terminal line, e.g. `churn run-1 shard 0/4`. */
  readonly label: string;
  /** Customers in the shard (for the percentage and ETA). */
  readonly total: number;
  /** Customers already done when this process started (a resumed shard). */
  readonly initialDone: number;
  readonly logger: Logger;
  /** Where a terminal line is drawn. @default process.stderr */
  readonly stream?: NodeJS.WriteStream;
  /** Draw a live line (true) or log periodically (false). @default stream.isTTY */
  readonly tty?: boolean;
  /** Interval of `progress` log lines when not on a terminal, in ms. @default 10000 */
  readonly intervalMs?: number;
}

/** Window the rate is measured over, in ms: recent enough to follow a slowdown, long enough to be steady. */
const RATE_WINDOW_MS = 10_000;
/** Least time between two redraws of the terminal line, in ms. */
const REDRAW_MS = 250;

/**
 * Shows a shard's progress: on a terminal, one live line on stderr (done/total, %, rate, ETA, failures);
 * otherwise (a Kubernetes pod) a `progress` JSON log line every `intervalMs` with the same numbers, so a
 * stalled job is visible in the logs too. Rates count only this process's work.
 */
export function createProgressReporter(options: ProgressReporterOptions): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? stream.isTTY === true;
  const samples: Array<{ at: number; done: number }> = [{ at: performance.now(), done: options.initialDone }];
  let latest: Progress = { done: options.initialDone, failed: 0 };
  let lastDraw = 0;

  const trim = (now: number) => {
    while (samples.length > 2 && samples[1]!.at < now - RATE_WINDOW_MS) samples.shift();
  };
  const stats = () => {
    const now = performance.now();
    trim(now);
    const oldest = samples[0]!;
    const seconds = (now - oldest.at) / 1000;
    const ratePerSecond = seconds > 0 ? (latest.done - oldest.done) / seconds : 0;
    const remaining = Math.max(0, options.total - latest.done);
    const etaSeconds = ratePerSecond > 0 ? remaining / ratePerSecond : undefined;
    return { ratePerSecond, etaSeconds };
  };
  const log = () => {
    const { ratePerSecond, etaSeconds } = stats();
    options.logger.info(
      {
        done: latest.done,
        total: options.total,
        failed: latest.failed,
        ratePerSecond: Math.round(ratePerSecond),
        etaSeconds: etaSeconds === undefined ? null : Math.round(etaSeconds),
      },
      'progress',
    );
  };
  const draw = () => {
    const { ratePerSecond, etaSeconds } = stats();
    const percent = options.total > 0 ? (100 * latest.done) / options.total : 100;
    const line =
      `${options.label}  ${latest.done.toLocaleString('en')}/${options.total.toLocaleString('en')} ` +
      `(${percent.toFixed(1)} %)  ${Math.round(ratePerSecond).toLocaleString('en')}/s  ` +
      `ETA ${etaSeconds === undefined ? '--:--' : formatDuration(etaSeconds)}` +
      (latest.failed > 0 ? `  failed ${latest.failed.toLocaleString('en')}` : '');
    stream.write(`\r\x1b[K${line}`);
  };
  const timer = tty ? undefined : setInterval(log, options.intervalMs ?? 10_000);
  timer?.unref();

  return {
    update(progress) {
      latest = progress;
      const now = performance.now();
      samples.push({ at: now, done: progress.done });
      trim(now);
      if (tty && now - lastDraw >= REDRAW_MS) {
        lastDraw = now;
        draw();
      }
    },
    finish() {
      if (timer !== undefined) clearInterval(timer);
      if (tty) {
        draw();
        stream.write('\n');
      }
    },
  };
}

/** `h:mm:ss` or `m:ss`. */
function formatDuration(totalSeconds: number): string {
  const s = Math.round(totalSeconds);
  const pad = (n: number) => String(n).padStart(2, '0');
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  return hours > 0 ? `${hours}:${pad(minutes)}:${pad(s % 60)}` : `${minutes}:${pad(s % 60)}`;
}
