# syntax=docker/dockerfile:1
#
# Customer Intelligence server image: the compiled server, the batch CLIs and the bundled models on a
# distroless Node 20 base (no shell, no package manager), running as the numeric non-root user 65532.
#
#   docker build -t customer-intelligence:0.1.0 .
#
# Entry points: ENTRYPOINT is node; the command picks the program (paths are relative to WORKDIR /app).
#   server   dist/server/src/main.js              (default)
#   migrate  dist/server/src/db/migrate-cli.js    (DATABASE_URL; the Helm chart runs it as a hook Job)
#   seed     dist/batch/src/seed-cli.js           (--customers N)
#   train    dist/batch/src/train-cli.js          (--out /tmp/models: the image's files are read-only)
#   apikey   dist/server/src/security/apikey-cli.js (--name N --roles R: a new API key and its hash entry)
#   batch:score      dist/batch/src/score/score-cli.js          (--model churn; Indexed Jobs: JOB_COMPLETION_INDEX)
#   batch:train      dist/batch/src/train/train-cli.js          (gated; promotes into the Postgres registry)
#   batch:retention  dist/batch/src/retention/retention-cli.js  (--retention-days N)
# e.g. docker run --rm -e DATABASE_URL=postgres://... customer-intelligence:0.1.0 dist/server/src/db/migrate-cli.js
#
# Only linux-x64 is built: the other platforms' onnxruntime binaries are pruned.
# No embedded Postgres (embedded-postgres is a devDependency): the server and the CLIs need DATABASE_URL.
# test/chart/dockerfile.test.ts checks that every file, script and entry point named here exists.

ARG BUILD_IMAGE=node:20-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot

# --- build: all dependencies, compile TypeScript to dist/ -------------------------------------------------
FROM ${BUILD_IMAGE} AS build
WORKDIR /app
# No package's install script runs in the image: npm 10 (this base's) ignores package.json's allowScripts, so
# every `npm ci` has --ignore-scripts, and a stage that needs a script names its package in `npm rebuild <pkg>`.
# This stage needs none: the build is tsc and cp, and the packages with scripts are onnxruntime-node (downloads
# GPU files; the CPU runtime ships in the package), protobufjs (a version warning), and dev tools the build
# does not run (esbuild, buf, the embedded Postgres binaries). test/chart/dockerfile.test.ts pins this list.
# ONNXRUNTIME_NODE_INSTALL=skip is the second guard, should a rebuild ever name onnxruntime-node.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY gen gen
COPY server/src server/src
COPY batch/src batch/src
COPY client/src client/src
RUN npm run build

# --- production dependencies only, onnxruntime pruned to linux-x64 -----------------------------------------
# Without embedded-postgres (a devDependency): the image needs DATABASE_URL. No install script runs here
# either: of the production packages only onnxruntime-node and protobufjs have one, and neither is needed.
FROM ${BUILD_IMAGE} AS prod-deps
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
COPY scripts/prune-onnxruntime.sh scripts/prune-onnxruntime.sh
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && scripts/prune-onnxruntime.sh node_modules/onnxruntime-node \
  && npm cache clean --force

# --- runtime ------------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}
WORKDIR /app
ENV NODE_ENV=production \
    MODEL_REPOSITORY_DIR=/app/models
LABEL org.opencontainers.image.title="customer-intelligence" \
      org.opencontainers.image.description="gRPC inference server scoring customers for churn and CLV with ONNX models"
# package.json carries "type": "module", which the compiled ES modules need.
COPY package.json ./
COPY --from=prod-deps /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY models models
# Owned by root and not writable by the process; the Helm chart also makes the root filesystem read-only.
USER 65532:65532
EXPOSE 50051
ENTRYPOINT ["/nodejs/bin/node"]
CMD ["dist/server/src/main.js"]
