/** One scrape of a server's `GET /metrics` (Prometheus text format). */
export interface Scrape {
  /**
   * Sum of the samples of `name` whose labels include every pair of `labels` (0 when there is none), e.g.
   * `sum('grpc_server_handled_total', { grpc_method: 'Score', grpc_code: 'OK' })`.
   */
  sum(name: string, labels?: Record<string, string>): number;
  /** The raw text. */
  readonly text: string;
}

/** Fetches `http://127.0.0.1:<port>/metrics` and parses the samples. */
export async function scrapeMetrics(port: number): Promise<Scrape> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  const text = await response.text();
  const samples = text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .flatMap((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
      if (match === null) return [];
      const labels = Object.fromEntries(
        [...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [
          m[1]!,
          m[2]!,
        ]),
      );
      return [{ name: match[1]!, labels, value: Number(match[3]) }];
    });
  return {
    text,
    sum(name, labels = {}) {
      return samples
        .filter(
          (sample) =>
            sample.name === name &&
            Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
        )
        .reduce((total, sample) => total + sample.value, 0);
    },
  };
}
