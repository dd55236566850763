/**
 * Vitest global setup for the integration project: one real Postgres for the whole run, with a
 * migrated and seeded template database that each test file clones (`CREATE DATABASE ... TEMPLATE`),
 * so files run in parallel without seeing each other's writes. The template has the least-privilege roles'
 * grants (`server/src/db/roles.sql`), so tests can log in as members of those roles.
 */
import type { TestProject } from 'vitest/node';
import { grantDatabaseRoles } from '../../../server/src/db/roles.js';
import { createSeededDatabase, startTestPostgres } from '../../helpers/test-postgres.js';

/** Customers in the template database (ids "1".."3000"). */
export const TEMPLATE_CUSTOMERS = 3_000;
export const TEMPLATE_DATABASE = 'ci_template';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
    templateDatabase: string;
    templateCustomers: number;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const postgres = await startTestPostgres();
  await grantDatabaseRoles(await createSeededDatabase(postgres.url, TEMPLATE_DATABASE, TEMPLATE_CUSTOMERS));
  project.provide('postgresUrl', postgres.url);
  project.provide('templateDatabase', TEMPLATE_DATABASE);
  project.provide('templateCustomers', TEMPLATE_CUSTOMERS);
  return () => postgres.destroy();
}
