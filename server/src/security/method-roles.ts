import type { Role } from './principal.js';

/** Marks an RPC anyone may call, authenticated or not (health checks, reflection). */
export const OPEN = 'open' as const;

/**
 * Which roles may call each RPC, by full method path — the single table authorization reads.
 * `test/unit/method-roles.test.ts` walks every method of every service in the proto descriptors, so a
 * new RPC cannot ship without a rule here.
 */
export const METHOD_ROLES: Readonly<Record<string, readonly Role[] | typeof OPEN>> = {
  '/customer_intelligence.scoring.v1.ScoringService/Score': ['scorer', 'admin'],
  '/customer_intelligence.scoring.v1.ScoringService/ScoreStream': ['batch', 'admin'],
  '/customer_intelligence.scoring.v1.ScoringService/ListModels': ['scorer', 'batch', 'admin'],
  '/customer_intelligence.scoring.v1.ScoringService/GetModel': ['scorer', 'batch', 'admin'],
  '/grpc.health.v1.Health/Check': OPEN,
  '/grpc.health.v1.Health/Watch': OPEN,
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo': OPEN,
};

/** The rule for a method path; `undefined` for an RPC nobody wrote a rule for (denied). */
export function rolesFor(path: string): readonly Role[] | typeof OPEN | undefined {
  return METHOD_ROLES[path];
}
