import { ChannelCredentials } from 'nice-grpc';
import { describe, expect, it } from 'vitest';
import {
  refusePlaintextCredentials,
  serverCredentialsFromEnv,
} from '../../client/src/cli/server-credentials.js';
import { UsageError } from '../../client/src/cli/usage-error.js';
import { createScoringClient } from '../../client/src/scoring-client.js';
import { isLoopbackTarget } from '../../client/src/service-client.js';

// A key or token must not cross the network in plaintext: the client refuses to build a channel that would
// send one, unless the target is this machine or the caller says the network is trusted.
describe('credentials over plaintext', () => {
  it('are refused by the client for another host, and allowed to loopback, with TLS, or when asked for', () => {
    const auth = { apiKey: 'ci_not-a-real-key' };
    expect(() => createScoringClient('scoring.ml.svc:50051', { auth })).toThrow(
      'refusing to send credentials over plaintext to scoring.ml.svc:50051',
    );
    expect(() => createScoringClient('dns:///ci-headless.ml.svc:50051', { auth })).toThrow(/plaintext/);
    for (const address of ['127.0.0.1:50051', 'localhost:50051', '[::1]:50051', 'dns:///localhost:50051']) {
      createScoringClient(address, { auth }).close();
    }
    createScoringClient('scoring.ml.svc:50051', {
      auth,
      credentials: ChannelCredentials.createSsl(),
    }).close();
    createScoringClient('scoring.ml.svc:50051', { auth, allowInsecureCredentials: true }).close();
    createScoringClient('scoring.ml.svc:50051', {}).close(); // nothing to leak
  });

  it('recognises the loopback forms of a gRPC target', () => {
    expect(
      ['localhost:1', '127.0.0.1:1', '127.1.2.3:1', '[::1]:1', 'ipv4:127.0.0.1:1', 'unix:/run/ci.sock'].map(
        isLoopbackTarget,
      ),
    ).toEqual([true, true, true, true, true, true]);
    expect(
      ['10.0.0.1:1', 'localhost.evil.com:1', 'dns:///ci.ml.svc:1', '[::2]:1'].map(isLoopbackTarget),
    ).toEqual([false, false, false, false]);
  });

  it('are a usage error in the batch CLIs, naming the variable to set', async () => {
    const plaintext = await serverCredentialsFromEnv({ ADMIN_API_KEY: 'ci_not-a-real-key' }, 'ADMIN');
    expect(() => refusePlaintextCredentials(plaintext, 'ci.ml.svc:50051', 'ADMIN')).toThrow(UsageError);
    expect(() => refusePlaintextCredentials(plaintext, 'ci.ml.svc:50051', 'ADMIN')).toThrow(
      /^ADMIN_TLS: refusing to send the API key or token over plaintext to ci\.ml\.svc:50051; set ADMIN_TLS=tls/,
    );
    refusePlaintextCredentials(plaintext, '127.0.0.1:50051', 'ADMIN');
    // Chosen explicitly (the chart does, from grpc.tls.mode): a trusted network; the client then agrees too.
    const chosen = await serverCredentialsFromEnv(
      { ADMIN_API_KEY: 'ci_not-a-real-key', ADMIN_TLS: 'plaintext' },
      'ADMIN',
    );
    refusePlaintextCredentials(chosen, 'ci.ml.svc:50051', 'ADMIN');
    createScoringClient('ci.ml.svc:50051', chosen.clientOptions).close();
    const tls = await serverCredentialsFromEnv(
      { SCORING_API_KEY: 'ci_not-a-real-key', SCORING_TLS: 'tls' },
      'SCORING',
    );
    refusePlaintextCredentials(tls, 'ci.ml.svc:50051', 'SCORING');
    refusePlaintextCredentials(await serverCredentialsFromEnv({}, 'SCORING'), 'ci.ml.svc:50051', 'SCORING');
  });
});
