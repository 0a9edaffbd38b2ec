/**
 * Typed errors of the emulator. `KeyVaultError` is what the data plane answers with: it carries the HTTP
 * status and Azure's error body (`{"error":{"code","message","innererror":{"code"}}}`); `reason` is the
 * Azure error code, short enough for a Kubernetes condition. `EmulatorConfigError` is raised while
 * loading the YAML config, with the path of the offending field.
 */
export class KeyVaultError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly innerCode: string | undefined;
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, message: string, innerCode?: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'KeyVaultError';
    this.status = status;
    this.reason = code;
    this.innerCode = innerCode;
    this.headers = headers;
  }

  /** The JSON body Key Vault sends for this error. */
  body(): { error: { code: string; message: string; innererror?: { code: string } } } {
    return {
      error: {
        code: this.reason,
        message: this.message,
        ...(this.innerCode === undefined ? {} : { innererror: { code: this.innerCode } }),
      },
    };
  }
}

export const badParameter = (message: string): KeyVaultError => new KeyVaultError(400, 'BadParameter', message);

export class EmulatorConfigError extends Error {
  readonly reason = 'InvalidEmulatorConfig';
  constructor(message: string) {
    super(message);
    this.name = 'EmulatorConfigError';
  }
}

/** A PFX/PEM bundle that could not be read (import, config seed, test-CA file). */
export class CertificateMaterialError extends Error {
  readonly reason = 'InvalidCertificateMaterial';
  constructor(message: string) {
    super(message);
    this.name = 'CertificateMaterialError';
  }
}
