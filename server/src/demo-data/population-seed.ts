/**
 * Seed of the synthetic customer population: the bundled models are trained on customers 1..60000 of it
 * and the embedded database is seeded with customers 1..N of it, so both see the same customers.
 */
export const POPULATION_SEED = 20261129;
