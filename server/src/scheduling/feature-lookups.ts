import { SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { errors, type AppError } from '../errors.js';
import type { FeatureRows, FeatureStore } from '../features/feature-store.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Priority } from './priority.js';

/** Options of {@link FeatureLookups}. */
export interface FeatureLookupOptions {
  /**
   * Batch-priority queries running at once; the pool's other connections stay free for online lookups, and
   * batch ids that arrive meanwhile wait and go out together in the next query (`FEATURE_BATCH_QUERIES`).
   * @default 1
   */
  readonly maxBatchQueries?: number;
}

/** Lookups of one priority waiting for their query. */
interface Pending {
  ids: Set<string>;
  waiters: Waiter[];
  /** A flush is scheduled. (Batch lookups held back by maxBatchQueries are scheduled when a query ends.) */
  scheduled: boolean;
}

interface Waiter {
  /** `performance.now()` when the lookup was queued, for the queue-wait histogram. */
  readonly queuedAt: number;
  readonly resolve: (rows: FeatureRows) => void;
  readonly reject: (error: AppError) => void;
}

/**
 * Admission of feature lookups, part of the work scheduler: the lookups of one priority issued in the same
 * event-loop tick share one query, online lookups never wait behind batch ones, and at most
 * `maxBatchQueries` batch queries run at once. The store only runs the queries.
 */
export class FeatureLookups {
  private readonly pending: Record<Priority, Pending> = {
    online: { ids: new Set(), waiters: [], scheduled: false },
    batch: { ids: new Set(), waiters: [], scheduled: false },
  };
  private batchQueries = 0;
  private readonly maxBatchQueries: number;

  constructor(
    private readonly deps: {
      store: Pick<FeatureStore, 'fetch' | 'available'>;
      metrics: Metrics;
      tracer: Tracer;
    },
    options: FeatureLookupOptions = {},
  ) {
    this.maxBatchQueries = options.maxBatchQueries ?? 1;
  }

  /**
   * Looks customers up at `priority`. Unknown ids are simply absent from the result.
   *
   * @throws AppError UNAVAILABLE when the store cannot answer (breaker open, connection refused,
   *   statement timeout); the signal's reason when `signal` aborts first.
   */
  lookup(customerIds: readonly string[], signal: AbortSignal, priority: Priority): Promise<FeatureRows> {
    if (!this.deps.store.available) return Promise.reject(errors.featureStoreUnavailable());
    const span = this.deps.tracer.startSpan('feature_store.lookup', {
      attributes: { 'ci.customers': customerIds.length },
    });
    return new Promise<FeatureRows>((resolve, reject) => {
      const fail = (error: Error) => {
        span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
        span.end();
        reject(error);
      };
      if (signal.aborted) {
        fail(signal.reason as Error);
        return;
      }
      const onAbort = () => fail(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      const group = this.pending[priority];
      group.waiters.push({
        queuedAt: performance.now(),
        resolve: (rows) => {
          signal.removeEventListener('abort', onAbort);
          span.end();
          resolve(rows);
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          fail(error);
        },
      });
      customerIds.forEach((id) => group.ids.add(id));
      this.schedule(priority);
    });
  }

  private schedule(priority: Priority): void {
    const group = this.pending[priority];
    if (group.scheduled || group.waiters.length === 0) return;
    if (priority === 'batch' && this.batchQueries >= this.maxBatchQueries) return; // rescheduled when one ends
    group.scheduled = true;
    setImmediate(() => {
      if (priority === 'online') return void this.flush(priority);
      this.batchQueries++;
      void this.flush(priority).finally(() => {
        this.batchQueries--;
        this.schedule('batch');
      });
    });
  }

  private async flush(priority: Priority): Promise<void> {
    const group = this.pending[priority];
    group.scheduled = false;
    const ids = [...group.ids];
    const { waiters } = group;
    group.ids = new Set();
    group.waiters = [];
    const flushedAt = performance.now();
    for (const waiter of waiters) {
      this.deps.metrics.queueWaitSeconds.observe(
        { queue: 'feature_lookup' },
        (flushedAt - waiter.queuedAt) / 1000,
      );
    }
    try {
      const rows = await this.deps.store.fetch(ids);
      waiters.forEach((waiter) => waiter.resolve(rows));
    } catch (error) {
      // fetch rejects with an AppError only (UNAVAILABLE).
      waiters.forEach((waiter) => waiter.reject(error as AppError));
    }
  }
}
