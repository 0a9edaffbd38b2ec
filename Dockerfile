# syntax=docker/dockerfile:1
# kvsync: one image for the operator (`kvsync controller`) and the pod sidecar (`kvsync mount`).
# Build on the full Node 24 image, run on distroless Node 24 as non-root (uid 65532) with
# production dependencies only. test/unit/image/dockerfile-build.test.ts performs these steps
# in a clean folder (no container engine runs on the development machines): keep the two in step.

# The base images are build arguments so that a machine without a registry can build from local
# stand-ins (`kvsync dev image`, docs/image.md); the defaults are the public images.
ARG BUILD_IMAGE=node:24-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# npm ci runs the `prepare` script (links `kvsync` into node_modules/.bin, as in a checkout).
COPY scripts/link-bin.js scripts/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.ts scripts/
COPY src/ src/
COPY bin/ bin/
# esbuild bundles the product into a few modules in dist/ (scripts/build.ts; what ships is what
# tsconfig.build.json compiles): the process then loads only the code it uses, not thousands of modules.
RUN npm run build
# Drops the devDependencies, among them `node` (a second Node 24 binary from npm), TypeScript, esbuild, vitest.
RUN npm prune --omit=dev --no-audit --no-fund
# `kvsync` on PATH: the admission webhook gives the mount sidecar `command: ["kvsync"]`, which replaces
# the ENTRYPOINT. Distroless has no /usr/bin/env for bin/kvsync.js's shebang, hence this launcher.
RUN mkdir -p usr-local-bin \
 && printf '%s\n' '#!/nodejs/bin/node' 'import("/app/bin/kvsync.js");' > usr-local-bin/kvsync \
 && chmod 755 usr-local-bin/kvsync

FROM ${RUNTIME_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production
# Two glibc malloc arenas instead of one per thread (8 × cores): the controller's native memory is
# allocated by a few threads, and the spare arenas only held freed memory. 11–13 MB less RSS at
# 1,000 KeyVaultSyncs (docs/benchmarks.md, Memory); the bench runs kvsync with this same ENV.
ENV MALLOC_ARENA_MAX=2
COPY --from=build /src/package.json ./
COPY --from=build /src/bin/ bin/
COPY --from=build /src/dist/ dist/
COPY --from=build /src/node_modules/ node_modules/
COPY --from=build /src/usr-local-bin/kvsync /usr/local/bin/kvsync
USER 65532:65532
# The distroless image's entrypoint is node itself; bin/kvsync.js runs dist/cli.js.
ENTRYPOINT ["/nodejs/bin/node", "/app/bin/kvsync.js"]
CMD ["--help"]
