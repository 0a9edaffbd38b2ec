#!/usr/bin/env node
// Runs the compiled CLI when it was built (npm run build, the container image), else the
// TypeScript sources directly: Node >= 22.18 strips types itself.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli.js', import.meta.url);
const entry = existsSync(compiled) ? compiled : new URL('../src/cli.ts', import.meta.url);
await import(entry.href);
