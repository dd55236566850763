import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCustomers } from '../../server/src/demo-data/customer-generator.js';
import { POPULATION_SEED } from '../../server/src/demo-data/population-seed.js';
import { DriftMonitor, populationStabilityIndex } from '../../server/src/inference/drift-monitor.js';
import { OnnxModel } from '../../server/src/inference/onnx-model.js';

let churn: OnnxModel;
beforeAll(async () => {
  churn = await OnnxModel.load('models/churn/1');
});
afterAll(() => churn?.close());

const psiOf = (monitor: DriftMonitor, feature: string) =>
  monitor.report().find((d) => d.feature === feature)?.psi;

describe('populationStabilityIndex', () => {
  it('is 0 for identical distributions and grows with the shift', () => {
    expect(populationStabilityIndex([25, 25, 50], 100, [0.25, 0.25, 0.5])).toBeCloseTo(0, 12);
    // (0.5-0.25)ln2 + (0.25-0.25)·0 + (0.25-0.5)ln(0.5) = 0.5·ln 2
    expect(populationStabilityIndex([50, 25, 25], 100, [0.25, 0.25, 0.5])).toBeCloseTo(0.5 * Math.log(2), 12);
  });

  it('stays finite when a bin is empty', () => {
    expect(Number.isFinite(populationStabilityIndex([0, 100], 100, [0.5, 0.5]))).toBe(true);
  });
});

describe('DriftMonitor', () => {
  it('reports low PSI for traffic like the training data and high PSI for a shifted feature', () => {
    const stable = new DriftMonitor(2_000);
    const shifted = new DriftMonitor(2_000);
    const tenure = churn.featureNames.indexOf('tenure_months');
    for (const customer of generateCustomers({ seed: POPULATION_SEED, count: 2_000, firstId: 100_001 })) {
      stable.observe(churn, customer.features);
      const moved = [...customer.features];
      moved[tenure] = 70; // every customer suddenly a veteran
      shifted.observe(churn, moved);
    }
    expect(psiOf(stable, 'tenure_months')).toBeLessThan(0.05);
    expect(psiOf(shifted, 'tenure_months')).toBeGreaterThan(1);
    expect(psiOf(shifted, 'monthly_charges')).toBeLessThan(0.05);
  });

  it('reports nothing before enough rows, then tumbles windows so recent traffic wins', () => {
    const monitor = new DriftMonitor(100);
    const tenure = churn.featureNames.indexOf('tenure_months');
    const customers = [...generateCustomers({ seed: POPULATION_SEED, count: 200 })];
    customers.slice(0, 50).forEach((c) => monitor.observe(churn, c.features));
    expect(monitor.report()).toEqual([]);
    customers.slice(50, 100).forEach((c) => {
      const moved = [...c.features];
      moved[tenure] = 70;
      monitor.observe(churn, moved);
    });
    const firstWindow = psiOf(monitor, 'tenure_months')!;
    expect(firstWindow).toBeGreaterThan(0.25);
    // A full window of normal traffic replaces the drifted one.
    customers.slice(100, 200).forEach((c) => monitor.observe(churn, c.features));
    expect(psiOf(monitor, 'tenure_months')).toBeLessThan(firstWindow / 4);
    expect(monitor.report()).toHaveLength(churn.featureNames.length);
  });
});
