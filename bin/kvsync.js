#!/usr/bin/env node
// The installed `kvsync` command (npm links it as `kvsync`, the image launches it). It always runs the
// CLI: whatever name or symlink it was started through, being run is the whole point of this file.
import './check-node.js';
import { existsSync } from 'node:fs';

// The production build when it exists (npm run build, the container image), else the TypeScript
// sources directly: Node >= 22.18 strips types itself.
const built = new URL('../dist/cli.js', import.meta.url);
const entry = existsSync(built) ? built : new URL('../src/cli.ts', import.meta.url);
/* eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- plain JavaScript: the module is src/cli.ts or its build, which export runAndExit */
const cli = /** @type {{ runAndExit(argv: string[]): Promise<void> }} */ (await import(entry.href));
await cli.runAndExit(process.argv.slice(2));
