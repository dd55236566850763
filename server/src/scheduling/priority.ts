/**
 * How urgent a call's work is, from the method table (`security/method-roles.ts`): `online` for the
 * unary APIs a caller waits on, `batch` for the streams that score whole populations. Online work is
 * always served first (see `work-scheduler.ts`).
 */
export type Priority = 'online' | 'batch';
