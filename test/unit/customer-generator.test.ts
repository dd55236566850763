import { describe, expect, it } from 'vitest';
import { generateCustomers, type SyntheticCustomer } from '../../server/src/demo-data/customer-generator.js';
import { CUSTOMER_FEATURES, FEATURE_INDEX } from '../../server/src/demo-data/feature-catalog.js';
import { isHoldoutCustomer } from '../../batch/src/synthetic/holdout-split.js';

const population = [...generateCustomers({ seed: 20261129, count: 5_000 })];

function column(customers: readonly SyntheticCustomer[], name: keyof typeof FEATURE_INDEX): number[] {
  return customers.map((customer) => customer.features[FEATURE_INDEX[name]]!);
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

describe('generateCustomers', () => {
  it('gives identical customers for the same seed and different ones for another seed', () => {
    const again = [...generateCustomers({ seed: 20261129, count: 50 })];
    expect(again).toEqual(population.slice(0, 50));
    const other = [...generateCustomers({ seed: 20261130, count: 50 })];
    expect(other.map((customer) => customer.features)).not.toEqual(
      again.map((customer) => customer.features),
    );
  });

  it('gives customer i the same values whether generated in a run of 10 or of 1000 starting elsewhere', () => {
    const short = [...generateCustomers({ seed: 7, count: 10, firstId: 995 })];
    const long = [...generateCustomers({ seed: 7, count: 1_000, firstId: 500 })];
    expect(short.map((customer) => customer.customerId)).toEqual([
      '995',
      '996',
      '997',
      '998',
      '999',
      '1000',
      '1001',
      '1002',
      '1003',
      '1004',
    ]);
    expect(long.slice(495, 505)).toEqual(short);
  });

  it('numbers customers from 1 by default', () => {
    expect(population.slice(0, 3).map((customer) => customer.customerId)).toEqual(['1', '2', '3']);
  });

  it('produces features in the catalog order and plausible ranges', () => {
    for (const customer of population) {
      expect(customer.features).toHaveLength(CUSTOMER_FEATURES.length);
      const [tenure, tier, charges, contract, autopay, trend, tickets, failures, days, sessions, spend] =
        customer.features as [
          number,
          number,
          number,
          number,
          number,
          number,
          number,
          number,
          number,
          number,
          number,
        ];
      expect(Number.isInteger(tenure) && tenure >= 0 && tenure <= 72).toBe(true);
      expect([0, 1, 2]).toContain(tier);
      expect(charges).toBeGreaterThan(10);
      expect(charges).toBeLessThan(250);
      expect([0, 12, 24]).toContain(contract);
      expect([0, 1]).toContain(autopay);
      expect(trend).toBeGreaterThanOrEqual(-1);
      expect(trend).toBeLessThanOrEqual(1);
      for (const count of [tickets, failures, days, sessions])
        expect(Number.isInteger(count) && count >= 0).toBe(true);
      expect(spend).toBeGreaterThan(0);
      expect(customer.truth.churnProbability).toBeGreaterThan(0);
      expect(customer.truth.churnProbability).toBeLessThan(1);
      expect(customer.truth.revenue12m).toBeGreaterThanOrEqual(0);
      expect(customer.truth.expectedRevenue12m).toBeGreaterThan(0);
    }
  });

  it('has a realistic churn rate whose labels follow the true probabilities', () => {
    const churnRate = mean(population.map((customer) => (customer.truth.churned ? 1 : 0)));
    expect(churnRate).toBeGreaterThan(0.15);
    expect(churnRate).toBeLessThan(0.3);
    expect(
      Math.abs(churnRate - mean(population.map((customer) => customer.truth.churnProbability))),
    ).toBeLessThan(0.02);
  });

  it('has true expected revenue that matches realised revenue on average', () => {
    const realised = mean(population.map((customer) => customer.truth.revenue12m));
    const expected = mean(population.map((customer) => customer.truth.expectedRevenue12m));
    expect(Math.abs(realised - expected) / expected).toBeLessThan(0.03);
  });

  it('correlates the marginals like a subscription business', () => {
    const byTier = [0, 1, 2].map((tier) =>
      mean(
        population
          .filter((customer) => customer.features[FEATURE_INDEX.plan_tier] === tier)
          .map((customer) => customer.features[FEATURE_INDEX.monthly_charges]!),
      ),
    );
    expect(byTier[0]).toBeLessThan(byTier[1]!);
    expect(byTier[1]).toBeLessThan(byTier[2]!);

    const tenure = column(population, 'tenure_months');
    const contract = column(population, 'contract_months');
    const long = contract.filter((_, i) => tenure[i]! >= 36);
    const short = contract.filter((_, i) => tenure[i]! < 6);
    expect(mean(long)).toBeGreaterThan(mean(short));
  });
});

describe('isHoldoutCustomer', () => {
  it('splits about the requested share, the same way every time', () => {
    const ids = population.map((customer) => customer.customerId);
    const holdout = ids.filter((id) => isHoldoutCustomer(id));
    expect(holdout.length / ids.length).toBeGreaterThan(0.18);
    expect(holdout.length / ids.length).toBeLessThan(0.22);
    expect(ids.filter((id) => isHoldoutCustomer(id))).toEqual(holdout);
    expect(ids.filter((id) => isHoldoutCustomer(id, 0.5)).length / ids.length).toBeGreaterThan(0.47);
  });
});
