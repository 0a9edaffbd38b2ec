/**
 * `kvsync emulator [--config FILE] [--state-dir DIR] [--host 127.0.0.1] [--port N] [--imds-port N] [--data FILE]`:
 * runs the local Key Vault + Entra ID + IMDS + Event Grid emulator until SIGINT/SIGTERM, after writing
 * DIR/ca.pem and DIR/endpoints.json and printing the environment a client needs.
 */
import { join, resolve } from 'node:path';
import { startEmulator } from './server.ts';
import { parseCommandArgs } from '../cli-args.ts';

const HELP = `usage: kvsync emulator [--config FILE] [--state-dir DIR] [--host 127.0.0.1] [--port N] [--imds-port N] [--data FILE]

Local Azure Key Vault (HTTPS, several vaults by host name), Entra ID, IMDS and Event Grid publisher.
Writes DIR/ca.pem and DIR/endpoints.json (default DIR: ./.kvsync-emulator) and runs until SIGINT/SIGTERM.
  --config FILE     YAML config (tenant, vaults, principals, role assignments, ...); defaults when absent
  --state-dir DIR   where ca.pem and endpoints.json are written
  --host ADDR       listen address (default 127.0.0.1)
  --port N          HTTPS port for vaults, Entra ID and the admin API (default: any free port)
  --imds-port N     plain-HTTP IMDS port (default: any free port)
  --entra-host NAME also serve Entra ID as NAME (e.g. login.microsoftonline.com, which a local cluster's
                    DNS points at this emulator); repeatable
  --data FILE       persist vault contents to FILE and reload them at start
See docs/emulator.md.`;

function port(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${flag} must be a port number, got "${value}"`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs('emulator', HELP, {
    args: argv,
    options: {
      config: { type: 'string' },
      'state-dir': { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'imds-port': { type: 'string' },
      'entra-host': { type: 'string', multiple: true },
      data: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const stateDir = resolve(values['state-dir'] ?? '.kvsync-emulator');
  let emulator;
  try {
    emulator = await startEmulator({
      ...(values.config === undefined ? {} : { configFile: values.config }),
      stateDir,
      host: values.host ?? '127.0.0.1',
      port: port(values.port, '--port') ?? 0,
      imdsPort: port(values['imds-port'], '--imds-port') ?? 0,
      ...(values['entra-host'] === undefined ? {} : { entraHostNames: values['entra-host'] }),
      ...(values.data === undefined ? {} : { dataFile: resolve(values.data) }),
      log: (line) => console.error(`kvsync emulator: ${line}`),
    });
  } catch (err) {
    console.error(`kvsync emulator: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  const e = emulator.endpoints;
  const endpointsFile = join(stateDir, 'endpoints.json');
  // The admin secret is not printed: it is read from endpoints.json (mode 0600).
  console.log(
    [
      `# kvsync emulator is running; endpoints in ${endpointsFile}`,
      ...Object.entries(e.vaults).map(([name, url]) => `#   vault ${name}: ${url}  (resolve ${name}.vault.azure.net to ${e.resolve[`${name}.vault.azure.net`] ?? '127.0.0.1'})`),
      `#   admin API: ${e.adminUrl}`,
      `export AZURE_TENANT_ID=${e.tenantID}`,
      `export AZURE_AUTHORITY_HOST=${e.authorityHost}`,
      `export AZURE_POD_IDENTITY_AUTHORITY_HOST=${e.imdsEndpoint}`,
      `export AZURE_CLIENT_ID=${e.admin.clientID}`,
      `export AZURE_CLIENT_SECRET="$(node -p 'require(process.argv[1]).admin.clientSecret' ${endpointsFile})"`,
      `export NODE_EXTRA_CA_CERTS=${e.caFile}`,
      '# Credentials also need disableInstanceDiscovery: true; see docs/emulator.md.',
    ].join('\n'),
  );
  await new Promise<void>((done) => {
    const onSignal = (): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      done();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  await emulator.stop();
  return 0;
}
