/**
 * Writes new versions into the emulator's vault as an outside party would (the admin service principal,
 * the real Azure SDK), recording each version in the VaultHistory before it is written. Secrets get
 * fresh values; certificates a fresh EC key and self-signed leaf, imported as a PFX (the checker then
 * knows every leaf a Secret may hold).
 */
import { X509Certificate } from 'node:crypto';
import { ClientSecretCredential } from '@azure/identity';
import { CertificateClient } from '@azure/keyvault-certificates';
import { SecretClient } from '@azure/keyvault-secrets';
import type { EmulatorClientOptions } from '../../src/keyvault/endpoints-file.ts';
import { writePfx } from '../../src/pki/pfx-writer.ts';
import { selfSigned } from '../../src/pki/test-fixtures.ts';
import { certificateToken, type VaultHistory } from './checker.ts';
import type { SeededRandom } from './random.ts';

export class VaultWriter {
  readonly #secrets: SecretClient;
  readonly #certificates: CertificateClient;
  readonly #history: VaultHistory;
  readonly #rng: SeededRandom;
  #counter = 0;

  constructor(o: EmulatorClientOptions, vault: string, history: VaultHistory, rng: SeededRandom) {
    const { endpoints, caPem, agent } = o;
    const credential = new ClientSecretCredential(endpoints.tenantID, endpoints.admin.clientID, endpoints.admin.clientSecret, {
      authorityHost: endpoints.authorityHost,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: caPem },
    });
    const url = endpoints.vaults[vault];
    if (url === undefined) throw new Error(`the emulator has no vault ${vault}`);
    // One retry: a rotation that fails under a fault is counted and the next one goes on.
    const options = { agent, retryOptions: { maxRetries: 1 } } as ConstructorParameters<typeof SecretClient>[2];
    this.#secrets = new SecretClient(url, credential, options);
    this.#certificates = new CertificateClient(url, credential, options as ConstructorParameters<typeof CertificateClient>[2]);
    this.#history = history;
    this.#rng = rng;
  }

  /** The next value of a secret, recorded, then written. */
  async rotateSecret(name: string): Promise<void> {
    this.#counter += 1;
    const value = `chaos-${name}-${this.#counter}-${this.#rng.hex(8)}`;
    this.#history.record(name, value);
    await this.#secrets.setSecret(name, value);
  }

  /** A new certificate version: a fresh key and leaf, recorded, then imported as a PFX. */
  async rotateCertificate(name: string): Promise<void> {
    this.#counter += 1;
    const issued = await selfSigned(`${name}-${this.#counter}.chaos.example`, { keyType: 'EC', ca: false, dnsNames: [`${name}.chaos.example`] });
    this.#history.record(name, certificateToken(issued.cert));
    const pkcs8 = issued.key.export({ format: 'der', type: 'pkcs8' });
    await this.#certificates.importCertificate(name, writePfx([issued.certDer], pkcs8));
  }

  /** What the vault holds now: a secret's value, or a certificate's leaf token. */
  async currentSecret(name: string): Promise<string | undefined> {
    return (await this.#secrets.getSecret(name)).value;
  }

  async currentCertificate(name: string): Promise<string | undefined> {
    const cer = (await this.#certificates.getCertificate(name)).cer;
    return cer === undefined ? undefined : certificateToken(new X509Certificate(Buffer.from(cer)));
  }
}
