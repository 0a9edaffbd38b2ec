#!/usr/bin/env node
// The installed `kvsync` command (npm links it as `kvsync`, the image launches it). It always runs the
// CLI: whatever name or symlink it was started through, being run is the whole point of this file.
import './check-node.js';
import { existsSync } from 'node:fs';

// The compiled CLI when it was built (npm run build, the container image), else the TypeScript
// sources directly: Node >= 22.18 strips types itself.
const compiled = new URL('../dist/cli-entry.js', import.meta.url);
const entry = existsSync(compiled) ? compiled : new URL('../src/cli-entry.ts', import.meta.url);
await import(entry.href);
