import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as x509 from '@peculiar/x509';

// Test certificates are generated at run time (nothing secret is committed): ECDSA P-256 keys,
// a CA per call of createCa(), leaf certificates for the server (127.0.0.1, localhost) and clients.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/** A certificate with its private key, both PEM. */
export interface Issued {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A certificate authority that can issue leaf certificates. */
export interface Ca extends Issued {
  /** `dnsNames`: a server certificate's only names; @default 127.0.0.1 and localhost. */
  issue(options: { commonName: string; server?: boolean; dnsNames?: readonly string[] }): Promise<Issued>;
}

let serial = 1;
const nextSerial = () => (serial++).toString(16).padStart(2, '0');

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** Creates a self-signed CA valid for a day. */
export async function createCa(name: string): Promise<Ca> {
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: nextSerial(),
    name: `CN=${name}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return {
    certPem: cert.toString('pem'),
    keyPem: await pkcs8Pem(keys.privateKey),
    async issue({ commonName, server = false, dnsNames }) {
      const leafKeys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: nextSerial(),
        subject: `CN=${commonName}`,
        issuer: cert.subject,
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 86_400_000),
        signingKey: keys.privateKey,
        publicKey: leafKeys.publicKey,
        signingAlgorithm: algorithm,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(
            x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
            true,
          ),
          new x509.ExtendedKeyUsageExtension([
            server ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
          ]),
          ...(server
            ? [
                new x509.SubjectAlternativeNameExtension(
                  dnsNames === undefined
                    ? [
                        { type: 'ip', value: '127.0.0.1' },
                        { type: 'dns', value: 'localhost' },
                      ]
                    : dnsNames.map((value) => ({ type: 'dns' as const, value })),
                ),
              ]
            : []),
        ],
      });
      return { certPem: leaf.toString('pem'), keyPem: await pkcs8Pem(leafKeys.privateKey) };
    },
  };
}

/** Writes a certificate and key as `<name>.crt` / `<name>.key` into `dir`; returns their paths. */
export async function writePem(
  dir: string,
  name: string,
  issued: Issued,
): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  await writeFile(cert, issued.certPem);
  await writeFile(key, issued.keyPem, { mode: 0o600 });
  return { cert, key };
}
