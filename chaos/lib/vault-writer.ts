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

const statusOf = (err: unknown): number | undefined => (err as { statusCode?: number }).statusCode;

export class VaultWriter {
  readonly #secrets: SecretClient;
  readonly #certificates: CertificateClient;
  readonly #history: VaultHistory;
  readonly #rng: SeededRandom;
  #counter = 0;
  /** Certificates with an announced version not yet settled. */
  readonly #announced = new Set<string>();

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

  /** The secret's current version id. */
  async currentSecretVersion(name: string): Promise<string> {
    const version = (await this.#secrets.getSecret(name)).properties.version;
    if (version === undefined) throw new Error(`secret ${name} has no current version`);
    return version;
  }

  /** Enables or disables one version of a secret (readers of a disabled latest get 403 `SecretDisabled`). */
  async setSecretEnabled(name: string, version: string, enabled: boolean): Promise<void> {
    await this.#secrets.updateSecretProperties(name, version, { enabled });
  }

  /**
   * Soft-deletes the secret (readers get 404 `SecretNotFound`) and waits until it is deleted; done too
   * when an earlier attempt's delete was taken though its answer was lost.
   */
  async deleteSecret(name: string): Promise<void> {
    try {
      await (await this.#secrets.beginDeleteSecret(name, { intervalInMs: 200 })).pollUntilDone();
    } catch (err) {
      if (!(await this.#isDeleted(name))) throw err;
    }
  }

  async #isDeleted(name: string): Promise<boolean> {
    try {
      await this.#secrets.getDeletedSecret(name);
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw err;
    }
  }

  /** Recovers the soft-deleted secret, every version as it was, and waits until it is back (done when it is not deleted). */
  async recoverSecret(name: string): Promise<void> {
    try {
      await (await this.#secrets.beginRecoverDeletedSecret(name, { intervalInMs: 200 })).pollUntilDone();
    } catch (err) {
      if (await this.#isDeleted(name)) throw err;
    }
  }

  /**
   * Asks Key Vault to create a new version of the certificate (issuer Self, a fresh key): the version
   * stays pending as long as the emulator is told, and its leaf is known only once it completes, so it
   * is announced to the history now and recorded by {@link completeCertificate}.
   */
  async beginCertificate(name: string): Promise<void> {
    this.#counter += 1;
    const policy = { issuerName: 'Self', subject: `CN=${name}-${this.#counter}.chaos.example`, dnsNames: [`${name}.chaos.example`], keyType: 'EC' as const };
    // Announced once however often the create is tried; completeCertificate settles it.
    if (!this.#announced.has(name)) {
      this.#announced.add(name);
      this.#history.announce(name);
    }
    // Whether or not the create is taken, completeCertificate settles the announcement.
    try {
      await this.#certificates.beginCreateCertificate(name, policy);
    } catch (err) {
      // Taken though the answer was lost: the creation is in progress all the same.
      if ((await this.#operationStatus(name)) !== 'inProgress') throw err;
    }
  }

  /** The certificate's creation status (`inProgress`, `completed`, …), undefined when it has none. */
  async #operationStatus(name: string): Promise<string | undefined> {
    try {
      return (await this.#certificates.getCertificateOperation(name)).getOperationState().certificateOperation?.status;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /**
   * Once no creation of the certificate is pending: records the current leaf (the announced version, or
   * the one before when the create was never taken) and settles the announcement. Throws while it is
   * still pending or Key Vault does not answer (the caller polls).
   */
  async completeCertificate(name: string): Promise<void> {
    const status = await this.#operationStatus(name);
    if (status === 'inProgress') throw new Error(`certificate ${name}: the new version is still pending`);
    const token = await this.currentCertificate(name);
    if (token !== undefined) this.#history.record(name, token);
    if (this.#announced.delete(name)) this.#history.settle(name);
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
