# syntax=docker/dockerfile:1
# kvsync: one image for the operator (`kvsync controller`) and the pod sidecar (`kvsync mount`).
# Build on the full Node 24 image, run on distroless Node 24 as non-root (uid 65532) with
# production dependencies only. test/unit/image/dockerfile-build.test.ts performs these steps
# in a clean folder (no container engine runs on the development machines): keep the two in step.

FROM node:24-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src/ src/
COPY bin/ bin/
RUN npm run build
# Drops the devDependencies, among them `node` (a second Node 24 binary from npm), TypeScript, vitest.
RUN npm prune --omit=dev --no-audit --no-fund

FROM gcr.io/distroless/nodejs24-debian12:nonroot AS runtime
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./
COPY --from=build /src/bin/ bin/
COPY --from=build /src/dist/ dist/
COPY --from=build /src/node_modules/ node_modules/
USER 65532:65532
# The distroless image's entrypoint is node itself; bin/kvsync.js runs dist/cli.js.
ENTRYPOINT ["/nodejs/bin/node", "/app/bin/kvsync.js"]
CMD ["--help"]
