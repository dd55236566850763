import { createHash } from 'node:crypto';

/**
 * Fraction of customers that {@link isHoldoutCustomer} puts in the holdout by default.
 */
export const DEFAULT_HOLDOUT_FRACTION = 0.2;

/**
 * Deterministic train/holdout split by customer id: true when the customer belongs to the holdout.
 *
 * The decision hashes only the id (SHA-256 of `holdout:<id>`), so a customer stays on the same side whatever
 * population, seed or data source (synthetic generator or feature store) it comes from.
 *
 * @param customerId - The customer id as stored (`String(id)` for synthetic customers).
 * @param fraction - Share of customers in the holdout, in [0, 1]. @default {@link DEFAULT_HOLDOUT_FRACTION}
 */
export function isHoldoutCustomer(customerId: string, fraction = DEFAULT_HOLDOUT_FRACTION): boolean {
  const digest = createHash('sha256').update(`holdout:${customerId}`).digest();
  return digest.readUInt32BE(0) / 2 ** 32 < fraction;
}
