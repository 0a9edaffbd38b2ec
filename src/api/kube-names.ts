/**
 * What the apiserver accepts in the Secrets and ConfigMaps kvsync writes: data keys, label keys and
 * values, annotation keys and their total size. Checked before the first write (in parseKeyVaultSync
 * for what the spec says, in renderOutputs for keys that come from a vault's data), so a KeyVaultSync
 * is refused whole instead of having the apiserver refuse its second Secret after the first was written.
 */
import type { SpecIssue } from './errors.ts';

/** The longest data key (a DNS subdomain's length). */
export const MAX_DATA_KEY_LENGTH = 253;
/** Kubernetes' limit on the total size of an object's annotations (keys and values). */
export const MAX_ANNOTATIONS_BYTES = 256 * 1024;

/** The CRD pattern of a data key: letters, digits, '-', '_', '.', but not "." or "..". */
export const DATA_KEY_PATTERN = '^([-_a-zA-Z0-9][-._a-zA-Z0-9]*|\\.[-_a-zA-Z0-9][-._a-zA-Z0-9]*|\\.\\.[-._a-zA-Z0-9]+)$';
const DATA_KEY = new RegExp(DATA_KEY_PATTERN);

/** Why `key` cannot be a Secret or ConfigMap data key, or undefined when it can. */
export function dataKeyProblem(key: string): string | undefined {
  if (key.length > MAX_DATA_KEY_LENGTH) return `is longer than ${MAX_DATA_KEY_LENGTH} characters`;
  if (!DATA_KEY.test(key)) return 'is not a valid data key (letters, digits, "-", "_", "."; not "." or "..")';
  return undefined;
}

const NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Whether `key` is a qualified name (`[prefix/]name`), as label and annotation keys must be. */
export function isQualifiedName(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return name.length <= 63 && NAME_PART.test(name);
}

/** Problems of a labels map at `path` (keys qualified names, values label values). */
export function labelIssues(labels: Readonly<Record<string, string>>, path: string): SpecIssue[] {
  const issues: SpecIssue[] = [];
  for (const [k, v] of Object.entries(labels)) {
    if (!isQualifiedName(k)) issues.push({ path: `${path}[${JSON.stringify(k.slice(0, 64))}]`, message: 'is not a valid label key ([prefix/]name)' });
    else if (v.length > 63 || !LABEL_VALUE.test(v)) issues.push({ path: `${path}[${JSON.stringify(k)}]`, message: 'is not a valid label value (at most 63 letters, digits, "-", "_", ".")' });
  }
  return issues;
}

/** Problems of an annotations map at `path` (keys qualified names, at most 256 KiB in all). */
export function annotationIssues(annotations: Readonly<Record<string, string>>, path: string): SpecIssue[] {
  const issues: SpecIssue[] = [];
  let total = 0;
  for (const [k, v] of Object.entries(annotations)) {
    total += Buffer.byteLength(k) + Buffer.byteLength(v);
    if (!isQualifiedName(k)) issues.push({ path: `${path}[${JSON.stringify(k.slice(0, 64))}]`, message: 'is not a valid annotation key ([prefix/]name)' });
  }
  if (total > MAX_ANNOTATIONS_BYTES) issues.push({ path, message: `hold ${total} bytes; Kubernetes allows at most ${MAX_ANNOTATIONS_BYTES}` });
  return issues;
}
