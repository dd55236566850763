import { readFileSync } from 'node:fs';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { HealthDefinition } from 'nice-grpc-server-health';
import { ServerReflectionService } from 'nice-grpc-server-reflection';
import { describe, expect, it } from 'vitest';
import { METHOD_ROLES, OPEN, priorityOf } from '../../server/src/security/method-roles.js';
import { ROLES } from '../../server/src/config/security-config.js';

/** Every RPC the server can serve: our protos (from the generated descriptor set) and the library services. */
function servedMethods(): string[] {
  const descriptors = fromBinary(
    FileDescriptorSetSchema,
    readFileSync(new URL('../../gen/descriptor-set.binpb', import.meta.url)),
  );
  const ours = descriptors.file.flatMap((file) =>
    file.service.flatMap((service) =>
      service.method.map((method) => `/${file.package}.${service.name}/${method.name}`),
    ),
  );
  const health = Object.values(HealthDefinition.methods).map(
    (method) => `/${HealthDefinition.fullName}/${method.name}`,
  );
  const reflection = Object.values(ServerReflectionService).map((method) => method.path);
  return [...ours, ...health, ...reflection];
}

describe('the method → roles table', () => {
  it('has a rule for every method of every service, and no rule for a method that does not exist', () => {
    const methods = servedMethods();
    expect(methods.length).toBeGreaterThanOrEqual(7);
    expect(methods.filter((method) => METHOD_ROLES[method] === undefined)).toEqual([]);
    expect(Object.keys(METHOD_ROLES).filter((method) => !methods.includes(method))).toEqual([]);
  });

  it('opens only health, reflection and the V2 liveness/readiness probes; every other rule names known roles', () => {
    for (const [method, rule] of Object.entries(METHOD_ROLES)) {
      if (rule === OPEN)
        expect(method).toMatch(
          /^\/grpc\.(health|reflection)\.|^\/inference\.GRPCInferenceService\/Server(Live|Ready)$/,
        );
      else {
        expect(rule.length, method).toBeGreaterThan(0);
        for (const role of rule) expect(ROLES).toContain(role);
      }
    }
  });

  it('runs the two scoring streams at batch priority and every other RPC online', () => {
    const batch = servedMethods().filter((method) => priorityOf(method) === 'batch');
    expect(batch.sort()).toEqual([
      '/customer_intelligence.scoring.v1.ScoringService/ScoreStream',
      '/inference.GRPCInferenceService/ModelStreamInfer',
    ]);
    expect(priorityOf('/customer_intelligence.scoring.v1.ScoringService/Score')).toBe('online');
  });
});
