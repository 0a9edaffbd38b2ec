/**
 * What a tenant (or anyone who reads status, events, logs or metrics) can see of a KeyVaultSync:
 * a controller whose every log line is kept, and the text of each channel, so that a test can plant
 * a value and search all of them for it.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { startController, type ControllerOptions, type RunningController } from '../../src/controller/controller.ts';
import { loadAzureEnvironment } from '../../src/keyvault/azure-environment.ts';
import type { TestWorld } from '../integration/controller/support.ts';
import { syncApi } from '../integration/controller/support.ts';

const REPO = join(import.meta.dirname, '..', '..');
const CLI = join(REPO, 'src', 'cli.ts');

export interface LoggedController {
  controller: RunningController;
  /** Every log line the controller wrote (JSON, debug level and up). */
  logLines: string[];
}

/** A controller logging at debug level into memory, serving /metrics on a free port. */
export async function startLoggedController(kc: k8s.KubeConfig, world: TestWorld, opts: Partial<ControllerOptions> & { namespace: string; watchNamespace: string }): Promise<LoggedController> {
  const logLines: string[] = [];
  const azure = await loadAzureEnvironment({ endpointsFile: world.endpointsFile, env: {} });
  const log = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
  const controller = await startController({ kubeConfig: kc, azure, log, retryPeriodMs: 500, healthAddr: '127.0.0.1:0', ...opts });
  return { controller, logLines };
}

/** Each channel's text for one KeyVaultSync: its status, its events, the controller's log and /metrics. */
export async function channels(kc: k8s.KubeConfig, running: LoggedController, namespace: string, name: string): Promise<Record<'status' | 'events' | 'logs' | 'metrics', string>> {
  const obj = await syncApi(kc).get(namespace, name);
  const events = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedEvent({ namespace });
  const metrics = await (await fetch(`http://${running.controller.healthAddress ?? ''}/metrics`)).text();
  return { status: JSON.stringify(obj.status ?? {}), events: JSON.stringify(events.items), logs: running.logLines.join('\n'), metrics };
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `kvsync <args>` as a process with only PATH, HOME and `env` in its environment. */
export function runKvsync(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `value` and its base64 form (how Secrets and logs of bytes would carry it). */
export function formsOf(value: string): string[] {
  return [value, Buffer.from(value).toString('base64')];
}
