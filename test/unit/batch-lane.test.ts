import { describe, expect, it } from 'vitest';
import { createBatchLane } from '../../server/src/services/batch-lane.js';

/** Resolves after the event loop's next check phase. */
const nextIteration = () => new Promise((resolve) => setImmediate(resolve));

describe('batch lane', () => {
  it('gives one turn per event-loop iteration, in the order they were asked for', async () => {
    const lane = createBatchLane({ maxHoldMs: 1_000 });
    const order: string[] = [];
    for (const step of ['a', 'b', 'c']) void lane.turn().then(() => order.push(step));
    await nextIteration();
    expect(order).toEqual(['a']);
    await nextIteration();
    expect(order).toEqual(['a', 'b']);
    await nextIteration();
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('holds turns while an online call is being scored and gives them when the last one ends', async () => {
    const lane = createBatchLane({ maxHoldMs: 60_000 });
    const first = lane.online();
    const second = lane.online();
    let turned = false;
    void lane.turn().then(() => (turned = true));
    for (let i = 0; i < 5; i++) await nextIteration();
    first();
    first(); // ending a call twice counts once
    for (let i = 0; i < 5; i++) await nextIteration();
    expect(turned).toBe(false);
    second();
    await nextIteration();
    expect(turned).toBe(true);
  });

  it('gives a turn after maxHoldMs even while online calls keep coming', async () => {
    const lane = createBatchLane({ maxHoldMs: 20 });
    const online = lane.online();
    try {
      await lane.turn(); // would never resolve without the bound: the online call is still open
    } finally {
      online();
    }
  });
});
