import type { Config } from '../config/config.js';
import { errors } from '../errors.js';
import type {
  GRPCInferenceServiceImplementation,
  ModelInferRequest,
  ModelRepositoryParameter,
  ModelStreamInferResponse,
} from '../../../gen/inference/grpc_service.js';
import type { CallPlan, CallPlanContext } from '../grpc/call-plan.js';
import { toV2ErrorMessage, toWireError } from '../grpc/wire-error.js';
import type { InferenceStatistics } from '../inference/inference-statistics.js';
import type { ModelCatalog } from '../inference/model-catalog.js';
import { compareVersions } from '../inference/model-version-order.js';
import type { ModelRepositoryControl } from '../inference/model-repository-control.js';
import { toV2Shape, toV2Datatype } from '../inference/v2-tensors.js';
import type { Lifecycle } from '../lifecycle/lifecycle.js';
import { DRAINED, orDrained } from '../lifecycle/or-drained.js';
import type { PrincipalLimits } from '../security/principal-limits.js';
import { readServerVersion } from '../server-version.js';
import type { Logger } from '../telemetry/logger.js';
import { ONNX_PLATFORM, tritonModelConfig } from './model-config.js';
import { v2Outputs, type ModelInfer } from './model-infer.js';

/**
 * Protocol extensions this server implements (Triton's names). perf_analyzer asks ModelStatistics for its
 * server-side figures only when `statistics` is listed.
 */
const EXTENSIONS = ['model_repository', 'model_configuration', 'statistics'];

/**
 * The Open Inference Protocol (V2) handlers, `inference.GRPCInferenceService`, with Triton's streaming and
 * repository extensions (see `proto/inference/grpc_service.proto`).
 *
 * - ServerLive: true while the process answers; ServerReady: the lifecycle is `serving`.
 * - ModelReady: serving and the model (version) is in the catalog (`ModelCatalog.isReady`), the same
 *   answer as `grpc.health.v1` for the service named after the model. Unknown models are not ready
 *   (no error), as in Triton.
 * - ModelMetadata: from the manifest (input `features` FP32 `[-1, features]`) and the graph's outputs.
 * - ModelConfig: Triton's model configuration of the same signature (see `model-config.ts`); NOT_FOUND
 *   like ModelMetadata.
 * - ModelStatistics: the V2 requests' statistics recorded by ModelInfer (`InferenceStatistics`), for
 *   every loaded version of one model or of all; NOT_FOUND for an unknown model or a version not loaded.
 * - ModelInfer / ModelStreamInfer: see `model-infer.ts`. In a stream each request gets one response, in
 *   order; a failed request gets `error_message` (`<STATUS>: <message>`) and the stream goes on. ModelInfer
 *   calls are audited like Score calls; streams, the batch door, are not (like ScoreStream).
 * - RepositoryIndex / RepositoryModelLoad / RepositoryModelUnload: delegated to the `ModelRepositoryControl`.
 */
export function createInferenceService(deps: {
  catalog: ModelCatalog;
  lifecycle: Lifecycle;
  repository: ModelRepositoryControl;
  modelInfer: ModelInfer;
  /** What ModelInfer recorded, for ModelStatistics. */
  statistics: InferenceStatistics;
  logger: Logger;
  /** Each ModelStreamInfer request takes a token from its principal's bucket, as a ScoreStream chunk does. */
  limits: Pick<PrincipalLimits, 'throttle'>;
  /** ModelConfig's `max_batch_size` is MAX_CUSTOMERS_PER_REQUEST. */
  config: Pick<Config, 'maxCustomersPerRequest'>;
}): GRPCInferenceServiceImplementation<CallPlanContext> {
  const { catalog, lifecycle, repository, modelInfer, statistics, logger, limits, config } = deps;
  const server = readServerVersion();
  const serving = () => lifecycle.state === 'serving';

  /** One stream request's response; failures are reported in it, aborts end the stream. */
  async function streamResponse(
    request: ModelInferRequest,
    plan: CallPlan,
  ): Promise<ModelStreamInferResponse> {
    try {
      return { errorMessage: '', inferResponse: await modelInfer(request, plan, { audit: false }) };
    } catch (error) {
      if (plan.signal.aborted) throw error;
      const wire = toWireError(error);
      if (wire.unexpected) {
        logger.error(
          { err: error, model: request.modelName, id: request.id },
          'stream request failed unexpectedly',
        );
      }
      // As Triton does, the failed response carries the request's id so that the client can match it.
      return {
        errorMessage: toV2ErrorMessage(wire),
        inferResponse: {
          modelName: '',
          modelVersion: '',
          id: request.id,
          parameters: {},
          outputs: [],
          rawOutputContents: [],
        },
      };
    }
  }

  return {
    async serverLive() {
      return { live: true };
    },

    async serverReady() {
      return { ready: serving() };
    },

    async modelReady(request) {
      return { ready: serving() && catalog.isReady(request.name, request.version) };
    },

    async serverMetadata() {
      return { name: server.name, version: server.version, extensions: EXTENSIONS };
    },

    async modelMetadata(request) {
      if (request.name === '') throw errors.invalidArgument('name', 'required (see RepositoryIndex)');
      const model = catalog.resolve(request.name, request.version);
      return {
        name: model.name,
        versions: [...catalog.get(model.name).versions.keys()].sort(compareVersions),
        platform: ONNX_PLATFORM,
        inputs: [
          { name: model.manifest.input.name, datatype: 'FP32', shape: [-1, model.featureNames.length] },
        ],
        outputs: v2Outputs(model).map((output) => ({
          name: output.name,
          datatype: toV2Datatype(output.type)!,
          shape: toV2Shape(output.shape),
        })),
      };
    },

    async modelConfig(request) {
      if (request.name === '') throw errors.invalidArgument('name', 'required (see RepositoryIndex)');
      const model = catalog.resolve(request.name, request.version);
      return { config: tritonModelConfig(catalog.get(model.name), model, config) };
    },

    async modelStatistics(request) {
      const named = request.name === '' ? undefined : catalog.get(request.name);
      if (named !== undefined && request.version !== '' && !named.versions.has(request.version)) {
        throw errors.modelVersionNotFound(named.name, request.version, [...named.versions.keys()]);
      }
      const models = named === undefined ? catalog.list() : [named];
      return {
        modelStats: models.flatMap((model) =>
          [...model.versions.keys()]
            .filter((version) => request.version === '' || version === request.version)
            .sort(compareVersions)
            .map((version) => statistics.snapshot(model.name, version)),
        ),
      };
    },

    async modelInfer(request, context) {
      return modelInfer(request, context.plan, { audit: true });
    },

    /**
     * Requests are answered one at a time, in order (a run holds the event loop anyway). When the server
     * drains, the stream stops reading and ends with UNAVAILABLE after answering the request in hand.
     */
    async *modelStreamInfer(requests, context) {
      const { principal, signal } = context.plan;
      const iterator = limits.throttle(requests, principal, signal)[Symbol.asyncIterator]();
      for (;;) {
        const next = iterator.next();
        void next.catch(() => undefined); // observed below; avoids an unhandled rejection after a drain
        const winner = await orDrained(next, lifecycle.drainSignal);
        if (winner === DRAINED) throw errors.notServing('shutting down');
        if (winner.done) return;
        yield await streamResponse(winner.value, context.plan);
      }
    },

    async repositoryIndex(request) {
      const models = await repository.index();
      return { models: request.ready ? models.filter((model) => model.state === 'READY') : models };
    },

    async repositoryModelLoad(request, context) {
      if (request.modelName === '') throw errors.invalidArgument('model_name', 'required');
      checkLoadParameters(request.parameters);
      await repository.load(request.modelName, context.plan.principal.id);
      return {};
    },

    async repositoryModelUnload(request, context) {
      if (request.modelName === '') throw errors.invalidArgument('model_name', 'required');
      await repository.unload(request.modelName, context.plan.principal.id);
      return {};
    },
  };
}

/**
 * Triton lets RepositoryModelLoad carry a model configuration (`config`) and the model files
 * (`file:<version>/<name>`); this server loads models only from their folder, so those are refused rather
 * than ignored (ignoring them would load something else than the caller sent).
 */
function checkLoadParameters(parameters: Record<string, ModelRepositoryParameter>): void {
  for (const key of Object.keys(parameters)) {
    if (key === 'config' || key.startsWith('file:')) {
      throw errors.invalidArgument(
        `parameters.${key}`,
        'not supported: models are registered through ModelAdminService (npm run model -- register)',
      );
    }
  }
}
