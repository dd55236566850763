/**
 * The transport ceiling: a grpc-js server that answers Score with an empty message without decoding
 * the request (identity serializers). Run as its own process:
 *   node --import tsx bench/perf/raw-server.ts   → prints {"port": N} on stdout
 */
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';

const EMPTY = Buffer.alloc(0);
const identity = (bytes: Buffer) => bytes;
const server = new Server();
server.addService(
  {
    Score: {
      path: '/customer_intelligence.scoring.v1.ScoringService/Score',
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  },
  {
    Score(_: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) {
      callback(null, EMPTY);
    },
  },
);
server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
process.on('SIGTERM', () => server.forceShutdown());
