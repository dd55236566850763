import { trueChurnProbability, CHURN_LATENT_SD } from './churn-process.js';
import { trueExpectedRevenue12m, trueMonthlyRevenueRate, REVENUE_NOISE_SIGMA } from './clv-process.js';
import { CustomerRandom } from './customer-random.js';
import { toFeatureRow, type CustomerFeatureValues } from './feature-catalog.js';

/** One synthetic customer: its features and the known ground truth behind its labels. */
export interface SyntheticCustomer {
  /** `String(id)`. */
  customerId: string;
  /** Feature values in `CUSTOMER_FEATURES` order. */
  features: number[];
  truth: {
    /**
     * True P(churn within 12 months), see `trueChurnProbability`. It includes the customer's unobserved random
     * effect, so its AUC (the ceiling) is an upper bound that no model of the features can reach.
     */
    churnProbability: number;
    /** Realised churn label, drawn from `churnProbability`. */
    churned: boolean;
    /** True E[revenue over the next 12 months] (currency), see `trueExpectedRevenue12m`. */
    expectedRevenue12m: number;
    /** Realised revenue over the next 12 months (currency, ≥ 0, rounded to cents). */
    revenue12m: number;
  };
}

/** Options of {@link generateCustomers}. */
export interface GenerateCustomersOptions {
  /** Population seed; the same seed always yields the same customers. */
  seed: number;
  /** Number of customers to generate. */
  count: number;
  /**
   * Id of the first customer; ids are consecutive.
   * @default 1
   */
  firstId?: number;
}

/**
 * Generates synthetic customers `firstId, firstId + 1, …` whose churn and 12-month revenue follow a known
 * ground truth (`churn-process.ts`, `clv-process.ts`).
 *
 * Every customer's values depend only on `(seed, id)`: customer 42 is identical whether generated alone or
 * as part of a run of 100,000, so a database seeded with ids 1..N and a training set drawn from a subset agree.
 *
 * Marginals are meant to look like a subscription business: tenure is roughly exponential (mean about
 * 22 months, capped at 72); longer-tenured customers more often hold premium plans, 12/24-month contracts
 * and autopay; premium plans cost more and contracts are discounted; an unobserved engagement level drives
 * sessions, recency and add-on spend; a minority of customers are disengaging (falling usage, more tickets);
 * an unobserved financial-stress level drives payment failures, far more often without autopay.
 */
export function* generateCustomers(options: GenerateCustomersOptions): Generator<SyntheticCustomer> {
  const firstId = options.firstId ?? 1;
  for (let id = firstId; id < firstId + options.count; id += 1) {
    yield generateCustomer(options.seed, id);
  }
}

function generateCustomer(seed: number, id: number): SyntheticCustomer {
  const random = new CustomerRandom(seed, id);

  const tenure = Math.min(72, Math.floor(random.exponential(22)));
  const seniority = tenure / 72;
  const planTier = random.categorical([
    0.5 - 0.15 * seniority,
    0.32 + 0.05 * seniority,
    0.18 + 0.1 * seniority,
  ]);
  const contract = [0, 12, 24][
    random.categorical([
      0.62 - 0.45 * seniority,
      0.22 + 0.1 * seniority + 0.04 * planTier,
      0.16 + 0.35 * seniority,
    ])
  ]!;
  const autopay = random.bernoulli(logistic(-0.5 + (contract > 0 ? 1.1 : 0) + 1.5 * seniority)) ? 1 : 0;

  const engagement = random.normal();
  const financialStress = random.normal();
  const disengaging = random.bernoulli(0.14);

  const basePrice = [29, 59, 99][planTier]!;
  const contractDiscount = 1 - 0.05 * (contract / 12);
  const monthlyCharges = roundTo(
    (basePrice * random.logNormal(0, 0.12) + 7.5 * random.poisson(0.6 + 0.4 * planTier)) * contractDiscount,
    2,
  );

  const usageTrend = roundTo(
    clamp(disengaging ? random.normal(-0.45, 0.22) : random.normal(0.05 * engagement, 0.2), -1, 1),
    3,
  );
  const sessions = random.poisson(
    Math.min(60, Math.exp(2.3 + 0.45 * engagement + 0.1 * planTier + 0.6 * Math.min(usageTrend, 0))),
  );
  const daysSinceActivity = Math.min(
    30 * tenure + 30,
    sessions > 0
      ? Math.floor(random.exponential(45 / (sessions + 1)))
      : 30 + Math.floor(random.exponential(40)),
  );
  const supportTickets = random.poisson(
    0.35 + (planTier === 2 ? 0.25 : 0) + 0.8 * Math.max(0, -usageTrend) + (tenure < 3 ? 0.3 : 0),
  );
  const paymentFailures = random.poisson((autopay === 1 ? 0.06 : 0.22) * Math.exp(0.7 * financialStress));

  const addOnRate = random.logNormal(Math.log(0.08) + 0.3 * engagement, 0.5);
  const monthsObserved = Math.min(tenure, 12) + 0.5;
  const spend12m = roundTo(monthlyCharges * monthsObserved * (1 + addOnRate) * random.logNormal(0, 0.05), 2);

  const features: CustomerFeatureValues = {
    tenure_months: tenure,
    plan_tier: planTier,
    monthly_charges: monthlyCharges,
    contract_months: contract,
    autopay,
    usage_trend: usageTrend,
    support_tickets_90d: supportTickets,
    payment_failures_90d: paymentFailures,
    days_since_last_activity: daysSinceActivity,
    sessions_30d: sessions,
    spend_12m: spend12m,
  };

  const churnProbability = trueChurnProbability(features, random.normal(0, CHURN_LATENT_SD));
  const churned = random.bernoulli(churnProbability);
  const monthlyRate = trueMonthlyRevenueRate(features, addOnRate);
  const monthsPaid = churned ? 12 * random.uniform() : 12;
  const noise = random.logNormal(-(REVENUE_NOISE_SIGMA ** 2) / 2, REVENUE_NOISE_SIGMA);

  return {
    customerId: String(id),
    features: toFeatureRow(features),
    truth: {
      churnProbability,
      churned,
      expectedRevenue12m: trueExpectedRevenue12m(monthlyRate, churnProbability),
      revenue12m: roundTo(monthlyRate * monthsPaid * noise, 2),
    },
  };
}

function logistic(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

function clamp(x: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, x));
}

function roundTo(x: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Math.round(x * scale) / scale;
}
