import type { Priority } from '../scheduling/priority.js';
import type { Role } from '../config/security-config.js';

/** Marks an RPC anyone may call, authenticated or not (health checks, reflection). */
export const OPEN = 'open' as const;

/**
 * The method table: which roles may call each RPC, by full method path — the single table authorization
 * reads — and, below it, which RPCs run at batch priority.
 * `test/unit/method-roles.test.ts` walks every method of every service in the proto descriptors, so a
 * new RPC cannot ship without a rule here.
 */
export const METHOD_ROLES: Readonly<Record<string, readonly Role[] | typeof OPEN>> = {
  '/customer_intelligence.scoring.v1.ScoringService/Score': ['scorer', 'admin'],
  '/customer_intelligence.scoring.v1.ScoringService/ScoreStream': ['batch', 'admin'],
  '/customer_intelligence.scoring.v1.ScoringService/ListModels': ['scorer', 'batch', 'admin'],
  '/customer_intelligence.scoring.v1.ScoringService/GetModel': ['scorer', 'batch', 'admin'],
  // The Open Inference Protocol (V2). ServerLive/ServerReady say no more than health does, so they are
  // open like it; inference mirrors Score/ScoreStream; changing what is served is for admins only.
  '/inference.GRPCInferenceService/ServerLive': OPEN,
  '/inference.GRPCInferenceService/ServerReady': OPEN,
  '/inference.GRPCInferenceService/ModelReady': ['scorer', 'batch', 'admin'],
  '/inference.GRPCInferenceService/ServerMetadata': ['scorer', 'batch', 'admin'],
  '/inference.GRPCInferenceService/ModelMetadata': ['scorer', 'batch', 'admin'],
  '/inference.GRPCInferenceService/ModelConfig': ['scorer', 'batch', 'admin'],
  '/inference.GRPCInferenceService/ModelStatistics': ['scorer', 'batch', 'admin'],
  '/inference.GRPCInferenceService/ModelInfer': ['scorer', 'admin'],
  '/inference.GRPCInferenceService/ModelStreamInfer': ['batch', 'admin'],
  '/inference.GRPCInferenceService/RepositoryIndex': ['scorer', 'batch', 'admin'],
  '/inference.GRPCInferenceService/RepositoryModelLoad': ['admin'],
  '/inference.GRPCInferenceService/RepositoryModelUnload': ['admin'],
  // Model administration: registering, promoting, rolling back and switching models off.
  '/customer_intelligence.admin.v1.ModelAdminService/RegisterModelVersion': ['admin'],
  '/customer_intelligence.admin.v1.ModelAdminService/SetDefaultVersion': ['admin'],
  '/customer_intelligence.admin.v1.ModelAdminService/RollbackModel': ['admin'],
  '/customer_intelligence.admin.v1.ModelAdminService/SetKillSwitch': ['admin'],
  '/customer_intelligence.admin.v1.ModelAdminService/ListModelVersions': ['admin'],
  '/customer_intelligence.admin.v1.ModelAdminService/ReloadModels': ['admin'],
  '/customer_intelligence.admin.v1.ModelAdminService/GetModelVersion': ['admin'],
  '/grpc.health.v1.Health/Check': OPEN,
  '/grpc.health.v1.Health/Watch': OPEN,
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo': OPEN,
};

/** The rule for a method path; `undefined` for an RPC nobody wrote a rule for (denied). */
export function rolesFor(path: string): readonly Role[] | typeof OPEN | undefined {
  return METHOD_ROLES[path];
}

/**
 * The RPCs that score whole populations: their work yields to online calls (see
 * `scheduling/work-scheduler.ts`). Every other RPC is online.
 */
const BATCH_METHODS: ReadonlySet<string> = new Set([
  '/customer_intelligence.scoring.v1.ScoringService/ScoreStream',
  '/inference.GRPCInferenceService/ModelStreamInfer',
]);

/** The priority of a method's work, by full method path. */
export function priorityOf(path: string): Priority {
  return BATCH_METHODS.has(path) ? 'batch' : 'online';
}
