/**
 * Errors of the API layer. Every problem found in a KeyVaultSync or KeyVaultIdentity is an
 * {@link InvalidSpecError} with reason `InvalidSpec`, so the controller can put it verbatim into a
 * `Ready=False` condition. Messages name the field path and never contain a secret value (the spec
 * holds none: only names, IDs and references).
 */
import { KvsyncError } from '../util/errors.ts';

/** One problem, located by a field path such as `spec.secretObjects[0].data[1].objectName`. */
export interface SpecIssue {
  path: string;
  message: string;
}

export class InvalidSpecError extends KvsyncError<'InvalidSpec'> {
  override readonly name = 'InvalidSpecError';
  readonly issues: readonly SpecIssue[];

  constructor(issues: readonly SpecIssue[]) {
    super('InvalidSpec', issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    this.issues = issues;
  }
}

/** Turns a JSON pointer (`/spec/objects/0/name`) into a field path (`spec.objects[0].name`). */
export function pointerToPath(pointer: string, root = ''): string {
  let out = root;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}
