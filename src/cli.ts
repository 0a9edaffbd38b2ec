#!/usr/bin/env node
/**
 * The one `kvsync` binary: dispatches to a subcommand module. Each module exports
 * `run(argv): Promise<number>` and is loaded lazily so that `kvsync convert` does not pay for the
 * Kubernetes client, nor `kvsync controller` for the emulator.
 *
 * `dev` and `emulator` are commands of the development install only: the production build
 * (tsconfig.build.json) leaves them out, so they are imported by a computed URL the compiler does not
 * follow, and a production install says so in one line instead of failing to load them.
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export interface Command {
  run(argv: string[]): Promise<number>;
}

interface CommandEntry {
  summary: string;
  load: () => Promise<Command>;
}

const commands: Record<string, CommandEntry> = {
  controller: {
    summary: 'the operator: syncs KeyVaultSyncs into Secrets (informers, work queue, leader election, /healthz)',
    load: async () => {
      // Before the controller's modules load: a smaller heap for some CPU (src/controller/small-heap.ts).
      (await import('./controller/small-heap.ts')).useSmallHeap();
      return import('./controller/command.ts');
    },
  },
  convert: {
    summary: 'PFX/PEM certificate bundle → JSON {"tls.crt","tls.key","ca.crt"}',
    load: () => import('./pki/convert-command.ts'),
  },
  dev: {
    summary: 'local control plane (+ emulator, controller, samples as they land); `dev control-plane` for the control plane alone',
    load: () => loadDevelopmentCommand('dev', 'dev/command'),
  },
  emulator: {
    summary: 'local Azure Key Vault + Entra ID + IMDS + Event Grid emulator over HTTPS; writes ca.pem and endpoints.json',
    load: () => loadDevelopmentCommand('emulator', 'emulator/command'),
  },
  mount: {
    summary: 'the pod sidecar: fetches with the pod\'s own identity, writes files atomically (kubelet layout), rotates',
    load: async () => {
      // Before the sidecar's modules load: a SIGHUP meanwhile must not end it (src/mount/early-hangup.ts).
      (await import('./mount/early-hangup.ts')).ignoreEarlyHangups();
      return import('./mount/command.ts');
    },
  },
  render: {
    summary: 'prints the Secrets a KeyVaultSync would produce (values redacted unless --show-values), without a cluster',
    load: () => import('./keyvault/render-command.ts'),
  },
};

/** A development command is absent from this install (the production image). */
export class DevelopmentCommandAbsentError extends Error {
  override readonly name = 'DevelopmentCommandAbsentError';
  constructor(command: string) {
    super(`"${command}" is a command of the development install (npm ci in a kvsync checkout); this installation ships without it`);
  }
}

/**
 * Loads `src/<module>.ts` when running from source, else `dist/<module>.js`, else (a development
 * checkout with a build) the source beside the build.
 */
async function loadDevelopmentCommand(command: string, module: string): Promise<Command> {
  const fromSource = import.meta.url.endsWith('.ts');
  const candidates = fromSource ? [new URL(`./${module}.ts`, import.meta.url)] : [new URL(`./${module}.js`, import.meta.url), new URL(`../src/${module}.ts`, import.meta.url)];
  const found = candidates.find((url) => existsSync(url));
  if (found === undefined) throw new DevelopmentCommandAbsentError(command);
  return (await import(found.href)) as Command;
}

function usage(): string {
  const rows = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return ['usage: kvsync <command> [flags]', '', 'commands:', ...rows, '', 'Run `kvsync <command> --help` for its flags.'].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const entry = commands[name];
  if (entry === undefined) {
    console.error(`kvsync: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  let command: Command;
  try {
    command = await entry.load();
  } catch (err) {
    if (!(err instanceof DevelopmentCommandAbsentError)) throw err;
    console.error(`kvsync: ${err.message}`);
    return 2;
  }
  return command.run(rest);
}

/** Runs the CLI and sets the process's exit code: an unexpected error becomes one line, not a stack trace. */
export async function runAndExit(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (err) {
    console.error(`kvsync: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}

// `node src/cli.ts …` (tests, npm scripts) and `node dist/cli.js …` (the production build). The installed
// command starts through bin/kvsync.js, which calls runAndExit under any name or symlink npm gives it.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  void runAndExit(process.argv.slice(2));
}
