/**
 * What the host must provide for a local node and image builds, checked before anything starts so a
 * missing Debian package is one clear line (what to install), not a process dying half-way.
 */
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { ControlPlaneError } from './errors.ts';

export interface HostRequirement {
  /** A program looked up on PATH, or an absolute path. */
  file: string;
  /** The Debian package that provides it. */
  debianPackage: string;
}

/** The node: containerd (CRI), runc, the CNI plugins, iptables and conntrack for kube-proxy, iproute2. */
export const NODE_REQUIREMENTS: readonly HostRequirement[] = [
  { file: 'containerd', debianPackage: 'containerd' },
  { file: 'ctr', debianPackage: 'containerd' },
  { file: 'runc', debianPackage: 'runc' },
  { file: '/usr/lib/cni/bridge', debianPackage: 'containernetworking-plugins' },
  { file: '/usr/lib/cni/host-local', debianPackage: 'containernetworking-plugins' },
  { file: '/usr/lib/cni/loopback', debianPackage: 'containernetworking-plugins' },
  { file: '/usr/lib/cni/portmap', debianPackage: 'containernetworking-plugins' },
  { file: 'iptables', debianPackage: 'iptables' },
  { file: 'conntrack', debianPackage: 'conntrack' },
  { file: 'ip', debianPackage: 'iproute2' },
];

/** Image builds: dockerd (and its CLI), debootstrap for the locally made base images. */
export const IMAGE_REQUIREMENTS: readonly HostRequirement[] = [
  { file: 'dockerd', debianPackage: 'docker.io' },
  // The CLI of the same package (a newer CLI elsewhere on PATH would warn about the classic builder).
  { file: '/usr/bin/docker', debianPackage: 'docker.io' },
  { file: 'debootstrap', debianPackage: 'debootstrap' },
];

/** Where the Debian packages put their programs; root's PATH may lack the sbin folders. */
const EXTRA_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];

/** The absolute path of `file` (PATH and the sbin folders), or undefined. */
export async function findProgram(file: string): Promise<string | undefined> {
  const candidates = file.startsWith('/') ? [file] : [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS].map((d) => join(d, file));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return c;
    } catch {
      // try the next folder
    }
  }
  return undefined;
}

/**
 * Resolves each requirement to a path.
 * @throws ControlPlaneError HostPrerequisiteMissing: one line naming the `apt-get install` that fixes it,
 *   or that the command must run as root
 */
export async function requireHost(what: string, requirements: readonly HostRequirement[], isRoot = process.getuid?.() === 0): Promise<Record<string, string>> {
  if (!isRoot) {
    throw new ControlPlaneError('HostPrerequisiteMissing', `${what} needs root (it runs containerd, the kubelet and iptables); run it as root`);
  }
  const found: Record<string, string> = {};
  const missing = new Set<string>();
  for (const r of requirements) {
    const path = await findProgram(r.file);
    if (path === undefined) missing.add(r.debianPackage);
    else found[r.file] = path;
  }
  if (missing.size > 0) {
    const pkgs = [...missing].join(' ');
    throw new ControlPlaneError('HostPrerequisiteMissing', `${what} needs Debian packages that are not installed: apt-get update && apt-get install -y --no-install-recommends ${pkgs}`);
  }
  return found;
}
