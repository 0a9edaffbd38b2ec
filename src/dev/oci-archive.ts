/**
 * A one-layer OCI image archive made from a folder, without a container engine or registry: the
 * folder becomes an uncompressed layer tar (owned by root), beside an image config and a manifest, in
 * an OCI image layout that `ctr images import` and `docker load` accept. The local node's pause image
 * is made this way from one static binary.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface OciImageConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  User?: string;
  WorkingDir?: string;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Writes `archive` (a tar of an OCI image layout) holding one image named `name` (e.g.
 * `kvsync.local/pause:1`) whose only layer is the content of `rootDir`.
 */
export async function writeOciArchive(rootDir: string, name: string, config: OciImageConfig, archive: string): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'kvsync-oci-'));
  try {
    const blobs = join(work, 'layout', 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    const layerTmp = join(work, 'layer.tar');
    // A fixed owner and modification time keep the layer's digest a function of the files alone.
    await execFileAsync('tar', ['-C', rootDir, '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--sort=name', '-cf', layerTmp, '.']);
    const layerDigest = await sha256File(layerTmp);
    const layerSize = (await stat(layerTmp)).size;
    await rename(layerTmp, join(blobs, layerDigest));

    const blob = async (doc: unknown): Promise<{ digest: string; size: number }> => {
      const bytes = Buffer.from(JSON.stringify(doc));
      const digest = createHash('sha256').update(bytes).digest('hex');
      await writeFile(join(blobs, digest), bytes);
      return { digest: `sha256:${digest}`, size: bytes.length };
    };
    const configBlob = await blob({
      architecture: 'amd64',
      os: 'linux',
      config,
      rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
    });
    const manifest = await blob({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...configBlob },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerDigest}`, size: layerSize }],
    });
    const tag = name.slice(name.lastIndexOf(':') + 1);
    await writeFile(join(work, 'layout', 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(
      join(work, 'layout', 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': tag },
        }],
      }),
    );
    await execFileAsync('tar', ['-C', join(work, 'layout'), '-cf', archive, '.']);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
