/**
 * The transport-plus-protobuf ceiling: a plain grpc-js server with the ScoringService messages that
 * decodes every Score request and encodes a response of the same shape as the real server's (one
 * prediction with three reason codes per customer) — and does nothing else. Run as its own process:
 *   node --import tsx bench/perf/echo-server.ts   → prints {"port": N} on stdout
 */
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import {
  FeatureSource,
  ScoreRequest,
  ScoreResponse,
  ScoringServiceDefinition,
} from '../../gen/customer_intelligence/scoring/v1/scoring.js';

const score = ScoringServiceDefinition.methods.score;
const server = new Server();
server.addService(
  {
    Score: {
      path: `/${ScoringServiceDefinition.fullName}/${score.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (message: ScoreRequest) => Buffer.from(ScoreRequest.encode(message).finish()),
      requestDeserialize: (bytes: Buffer) => ScoreRequest.decode(bytes),
      responseSerialize: (message: ScoreResponse) => Buffer.from(ScoreResponse.encode(message).finish()),
      responseDeserialize: (bytes: Buffer) => ScoreResponse.decode(bytes),
    },
  },
  {
    Score(call: ServerUnaryCall<ScoreRequest, ScoreResponse>, callback: sendUnaryData<ScoreResponse>) {
      callback(null, {
        results: call.request.customers.map((customer) => ({
          customerId: customer.customerId,
          outcome: {
            $case: 'prediction',
            value: {
              score: 0.1234,
              model: call.request.model,
              modelVersion: '1',
              featureSource: FeatureSource.FEATURE_SOURCE_INLINE,
              reasonCodes: [
                { feature: 'tenure_months', contribution: -0.5, value: 12 },
                { feature: 'usage_trend', contribution: 0.3, value: -0.2 },
                { feature: 'autopay', contribution: -0.2, value: 1 },
              ],
            },
          },
        })),
      });
    },
  },
);
server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
process.on('SIGTERM', () => server.forceShutdown());
