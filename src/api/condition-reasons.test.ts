/**
 * docs/troubleshooting.md has one section per reason of CONDITION_REASONS (condition-reasons.ts), no
 * more and no fewer. As a second net, reasons are also collected from the source with the TypeScript
 * parser, so a reason written anywhere in src/keyvault, src/controller or src/api that is not in
 * CONDITION_REASONS fails this test:
 * - string literals of type aliases named `…Reason` (SyncFailureReason, FailureReason, …);
 * - `reason = 'X'` class fields (InvalidSpecError);
 * - `reason: 'X'` in object literals (the `Synced` condition in status.ts);
 * - the first argument of `new SyncError('X', …)` / `new ControllerError('X', …)`, or both branches of
 *   a conditional there (`new ControllerError(isSecret ? 'X' : 'Y', …)`).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { CONDITION_REASONS } from './condition-reasons.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SOURCE_DIRS = ['src/keyvault', 'src/controller', 'src/api'];

/** Reasons found in the source that never reach a condition, with why (reviewed, not guessed). */
const NOT_CONDITION_REASONS: Record<string, string> = {
  NotLeader: 'NotLeaderError is caught by the reconciler before any status write (only the leader writes status)',
  LeaseConflict: 'leader election: a lost optimistic-concurrency race on the Lease, handled inside leader-election.ts',
  InvalidEndpointsFile: 'an unreadable --azure-endpoints file stops the command at start (endpoints-file.ts), before any KeyVaultSync is reconciled',
  TLSSecretCreated: 'an event on an Ingress or Gateway whose TLS Secret kvsync fills (tls-events.ts); documented in troubleshooting.md "Events on an Ingress or Gateway"',
  TLSSecretRotated: 'an event on an Ingress or Gateway (tls-events.ts), as TLSSecretCreated',
  InvalidTLSRequest: 'an event on an Ingress or Gateway whose kvsync keys cannot be used (tls-origin.ts): no KeyVaultSync is derived, so no condition carries it',
};
/** Type aliases named …Reason that are not condition reasons. */
const NOT_CONDITION_REASON_TYPES: Record<string, string> = {
  RolloutReason: 'why a workload was rolled (restartTarget, reload, envInjection): a log field, not a condition',
};
const ERROR_CLASSES = new Set(['SyncError', 'ControllerError']);

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath, e.name))
    .filter((p) => !p.includes(`${join(ROOT, 'src/api/testing')}`));
}

function literalsOf(type: ts.TypeNode): string[] {
  if (ts.isUnionTypeNode(type)) return type.types.flatMap(literalsOf);
  if (ts.isLiteralTypeNode(type) && ts.isStringLiteral(type.literal)) return [type.literal.text];
  if (ts.isParenthesizedTypeNode(type)) return literalsOf(type.type);
  return [];
}

/** Reason → where it was found (first place). */
function conditionReasonsInSource(): Map<string, string> {
  const found = new Map<string, string>();
  const add = (reason: string, where: string): void => {
    if (!found.has(reason)) found.set(reason, where);
  };
  for (const file of SOURCE_DIRS.flatMap(sourceFiles)) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const where = (n: ts.Node): string => `${file.slice(ROOT.length + 1)}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;
    const visit = (n: ts.Node): void => {
      if (ts.isTypeAliasDeclaration(n) && /Reason$/.test(n.name.text) && NOT_CONDITION_REASON_TYPES[n.name.text] === undefined) {
        for (const r of literalsOf(n.type)) add(r, `${where(n)} (type ${n.name.text})`);
      }
      if (ts.isPropertyDeclaration(n) && n.name.getText(sf) === 'reason' && n.initializer !== undefined && ts.isStringLiteral(n.initializer)) {
        add(n.initializer.text, where(n));
      }
      if (ts.isPropertyAssignment(n) && n.name.getText(sf) === 'reason' && ts.isStringLiteral(n.initializer)) add(n.initializer.text, where(n));
      if (ts.isNewExpression(n) && ERROR_CLASSES.has(n.expression.getText(sf))) {
        const first = n.arguments?.[0];
        const candidates = first !== undefined && ts.isConditionalExpression(first) ? [first.whenTrue, first.whenFalse] : [first];
        for (const c of candidates) if (c !== undefined && ts.isStringLiteral(c)) add(c.text, where(n));
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  for (const r of Object.keys(NOT_CONDITION_REASONS)) found.delete(r);
  return found;
}

/** The reasons documented in docs/troubleshooting.md: its `### \`Reason\`` headings, in order. */
function documentedReasonList(): string[] {
  const doc = readFileSync(join(ROOT, 'docs/troubleshooting.md'), 'utf8');
  return [...doc.matchAll(/^### `([A-Za-z]+)`/gm)].map((m) => m[1]!);
}

function documentedReasons(): Set<string> {
  return new Set(documentedReasonList());
}

describe('docs/troubleshooting.md', () => {
  const reasons = conditionReasonsInSource();

  it('finds the reasons in the source (the collector works)', () => {
    for (const r of ['VaultAccessDenied', 'ObjectNotFound', 'InvalidSpec', 'SecretConflict', 'ConfigMapConflict', 'Synced', 'InternalError']) expect(reasons.has(r), r).toBe(true);
  });

  it('finds no reason in the source that CONDITION_REASONS lacks', () => {
    const listed = new Set<string>(CONDITION_REASONS);
    const unlisted = [...reasons].filter(([r]) => !listed.has(r)).map(([r, where]) => `${r} (${where})`);
    expect(unlisted, 'add the reason to FAILURE_REASONS in src/api/condition-reasons.ts').toEqual([]);
  });

  it('has exactly one section per reason of CONDITION_REASONS, in its order', () => {
    expect(documentedReasonList()).toEqual([...CONDITION_REASONS]);
  });

  it('documents every condition reason the code can set', () => {
    const documented = documentedReasons();
    const missing = [...reasons].filter(([r]) => !documented.has(r)).map(([r, where]) => `${r} (${where})`);
    expect(missing, 'add a "### `Reason`" section to docs/troubleshooting.md').toEqual([]);
  });
});
