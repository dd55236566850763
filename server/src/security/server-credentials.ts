import { readFile } from 'node:fs/promises';
import { experimental, ServerCredentials } from '@grpc/grpc-js';
import type { TlsConfig } from '../config/security-config.js';

/**
 * The gRPC port's credentials: plaintext, TLS, or mutual TLS. Certificates come from PEM files that
 * grpc-js re-reads every `reloadIntervalMs`, so cert-manager or Vault can rotate them without a restart
 * (new connections get the new certificate). With mtls a client must present a certificate that chains
 * to the client CA, or the handshake fails.
 *
 * @throws Error naming the file when a PEM file cannot be read at start-up (fail before listening).
 */
export async function createServerCredentials(tls: TlsConfig): Promise<ServerCredentials> {
  if (tls.mode === 'plaintext') return ServerCredentials.createInsecure();
  const files = [tls.certFile, tls.keyFile, ...(tls.mode === 'mtls' ? [tls.clientCaFile] : [])];
  for (const file of files) {
    await readFile(file!).catch((error: unknown) => {
      throw new Error(`cannot read TLS file ${file}: ${String(error)}`);
    });
  }
  const identity = new experimental.FileWatcherCertificateProvider({
    certificateFile: tls.certFile,
    privateKeyFile: tls.keyFile,
    refreshIntervalMs: tls.reloadIntervalMs,
  });
  const clientCa =
    tls.mode === 'mtls'
      ? new experimental.FileWatcherCertificateProvider({
          caCertificateFile: tls.clientCaFile,
          refreshIntervalMs: tls.reloadIntervalMs,
        })
      : null;
  // grpc-js names its parameters (caCertificateProvider, identityCertificateProvider) but passes them on
  // as (identity, ca): the identity provider goes first.
  return experimental.createCertificateProviderServerCredentials(identity, clientCa, tls.mode === 'mtls');
}
