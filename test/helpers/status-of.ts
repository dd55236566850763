import { ClientError, Status } from 'nice-grpc';

/**
 * What a caller sees of a call: "OK", or the gRPC status name of the error it ends with. Anything that is
 * not a gRPC error (a bug in the test) is rethrown.
 */
export async function statusOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'OK';
  } catch (error) {
    if (error instanceof ClientError) return Status[error.code];
    throw error;
  }
}
