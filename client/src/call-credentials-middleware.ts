import {
  Metadata,
  type CallOptions,
  type ClientMiddleware,
  type ClientMiddlewareCall,
} from 'nice-grpc-common';

/**
 * Client middleware that sends the caller's credentials with every call: `x-api-key`, or
 * `authorization: Bearer <token>` (a function, so short-lived tokens can be refreshed per call).
 * Metadata works over plaintext too, unlike grpc-js call credentials, which need TLS.
 */
export function callCredentialsMiddleware(
  credentials: { apiKey: string } | { bearerToken: string | (() => string) },
): ClientMiddleware {
  return async function* addCredentials<Request, Response>(
    call: ClientMiddlewareCall<Request, Response>,
    options: CallOptions,
  ) {
    const metadata = Metadata(options.metadata);
    if ('apiKey' in credentials) metadata.set('x-api-key', credentials.apiKey);
    else {
      const token =
        typeof credentials.bearerToken === 'function' ? credentials.bearerToken() : credentials.bearerToken;
      metadata.set('authorization', `Bearer ${token}`);
    }
    return yield* call.next(call.request, { ...options, metadata });
  };
}
