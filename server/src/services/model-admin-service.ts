import type { CallContext } from 'nice-grpc-common';
import { errors } from '../errors.js';
import {
  KillSwitchMode,
  type AdminModel,
  type ModelAdminServiceImplementation,
} from '../../../gen/customer_intelligence/admin/v1/model_admin.js';
import type { CallPlanContext } from '../grpc/call-plan.js';
import { MODEL_NAME_PATTERN, MODEL_VERSION_PATTERN } from '../inference/model-manifest.js';
import { ValidatorUnavailableError } from '../inference/model-validation.js';
import { ModelLoadError } from '../inference/onnx-model.js';
import type { KillSwitch, ModelRegistry, RegistryModel } from '../registry/model-registry.js';
import type { RegistrySync } from '../registry/registry-sync.js';
import type { Logger } from '../telemetry/logger.js';

const KILL_SWITCH_MODES: Record<KillSwitch, KillSwitchMode> = {
  off: KillSwitchMode.KILL_SWITCH_MODE_OFF,
  refuse: KillSwitchMode.KILL_SWITCH_MODE_REFUSE,
  'previous-version': KillSwitchMode.KILL_SWITCH_MODE_PREVIOUS_VERSION,
};

/**
 * Checks a request's model name or version before it reaches Postgres, which refuses text with a NUL
 * character (an INTERNAL, found by test/reliability/fuzz.test.ts): a name that cannot exist is
 * INVALID_ARGUMENT, an unknown one stays NOT_FOUND.
 */
function checkName(field: 'model' | 'version', value: string): void {
  const pattern = field === 'model' ? MODEL_NAME_PATTERN : MODEL_VERSION_PATTERN;
  if (!pattern.test(value)) {
    throw errors.invalidArgument(
      field,
      value === '' ? 'required' : `${JSON.stringify(value.slice(0, 80))} does not match ${pattern.source}`,
    );
  }
}

/**
 * Longest free text the registry stores (a kill-switch reason). The text goes into every listing and into
 * the status of every refused call: a fuzzed 3 MB reason made each ListModelVersions answer 3 MB.
 */
export const MAX_TEXT_LENGTH = 1_000;

/** Free text stored in Postgres (a kill-switch reason): at most {@link MAX_TEXT_LENGTH}, no NUL characters. */
function checkText(field: string, value: string): void {
  if (value.length > MAX_TEXT_LENGTH) {
    throw errors.invalidArgument(field, `${value.length} characters; at most ${MAX_TEXT_LENGTH}`);
  }
  if (value.includes('\u0000')) throw errors.invalidArgument(field, 'must not contain NUL characters');
}

/**
 * The `customer_intelligence.admin.v1.ModelAdminService` handlers (role `admin`). Every action is
 * written to the audit log with the principal and to `model_registry_events`; each one returns after
 * this replica applied it (other replicas follow the registry's notification within about a second).
 */
export function createModelAdminService(deps: {
  registry: ModelRegistry;
  sync: RegistrySync;
  logger: Logger;
}): ModelAdminServiceImplementation<CallPlanContext> {
  const { registry, sync } = deps;
  const audit = deps.logger.child({ audit: 'admin' });

  const record = (context: CallContext & CallPlanContext, action: string, details: Record<string, unknown>) =>
    audit.info(
      { principal: context.plan.principal.id, peer: context.peer, action, ...details },
      'admin action',
    );

  async function describe(model: string): Promise<AdminModel> {
    const [state] = await registry.list(model);
    if (state === undefined) throw errors.modelNotFound(model, []);
    return toAdminModel(state);
  }

  function toAdminModel(state: RegistryModel): AdminModel {
    return {
      model: state.model,
      defaultVersion: state.defaultVersion,
      previousVersion: state.previousVersion ?? '',
      killSwitch: KILL_SWITCH_MODES[state.killSwitch],
      killReason: state.killReason ?? '',
      versions: state.versions.map((version) => ({
        version: version.version,
        state: version.state,
        failureReason: version.failureReason ?? '',
        onnxSha256: version.sha256,
        registeredAt: version.registeredAt.toISOString(),
        registeredBy: version.registeredBy,
        loaded: sync.isLoaded(state.model, version.version),
        metrics: { ...version.manifest.metrics },
      })),
    };
  }

  /** Loads and warms the version here first, so a version that cannot serve never becomes the default. */
  async function promote(
    model: string,
    version: string,
    context: CallContext & CallPlanContext,
  ): Promise<AdminModel> {
    try {
      await sync.ensureLoaded(model, version);
    } catch (error) {
      if (error instanceof ModelLoadError) throw errors.versionFailed(model, version, error.message);
      if (error instanceof ValidatorUnavailableError) throw errors.dependencyUnavailable(error);
      throw error;
    }
    await registry.setDefault(model, version, context.plan.principal.id);
    await sync.refresh(model);
    record(context, 'set-default', { model, version });
    return describe(model);
  }

  return {
    async registerModelVersion(request, context) {
      if (request.model === '' || request.version === '') {
        throw errors.invalidArgument(request.model === '' ? 'model' : 'version', 'required');
      }
      let manifest: unknown;
      try {
        manifest = JSON.parse(request.manifestJson);
      } catch (error) {
        throw errors.invalidArgument('manifest_json', `not JSON: ${String(error)}`);
      }
      // Stored as jsonb, which refuses a NUL character in a string (the \u0000 escape) as well.
      if (JSON.stringify(manifest).includes('\\u0000')) {
        throw errors.invalidArgument('manifest_json', 'must not contain NUL characters');
      }
      const registration = {
        model: request.model,
        version: request.version,
        onnx: request.onnx,
        manifest,
        actor: context.plan.principal.id,
      };
      // The cheap refusals first; then the isolated check (seconds for a hostile model), whose outcome is
      // stored with the version: a version that fails it is `failed` before any replica could load it.
      registry.checkRegistration(registration);
      if (await registry.hasVersion(request.model, request.version)) {
        throw errors.versionExists(request.model, request.version);
      }
      let validation;
      try {
        validation = await sync.validate(request.model, request.version, request.onnx, manifest);
      } catch (error) {
        if (error instanceof ValidatorUnavailableError) throw errors.dependencyUnavailable(error);
        throw error;
      }
      await registry.register({ ...registration, validation });
      record(context, 'register', {
        model: request.model,
        version: request.version,
        ...(validation.ok ? {} : { failed: validation.reason }),
      });
      // A model's first version becomes its default: a model cannot exist without one.
      const firstVersion = (await registry.list(request.model)).length === 0;
      const model =
        request.setDefault || firstVersion
          ? await promote(request.model, request.version, context)
          : await describe(request.model);
      return { model };
    },

    async setDefaultVersion(request, context) {
      checkName('model', request.model);
      checkName('version', request.version);
      return { model: await promote(request.model, request.version, context) };
    },

    async rollbackModel(request, context) {
      checkName('model', request.model);
      const version = await registry.rollback(request.model, context.plan.principal.id);
      await sync.refresh(request.model);
      record(context, 'rollback', { model: request.model, version });
      return { model: await describe(request.model) };
    },

    async setKillSwitch(request, context) {
      checkName('model', request.model);
      checkText('reason', request.reason);
      const mode = (Object.entries(KILL_SWITCH_MODES).find(([, value]) => value === request.mode)?.[0] ??
        undefined) as KillSwitch | undefined;
      if (mode === undefined) throw errors.invalidArgument('mode', 'choose OFF, REFUSE or PREVIOUS_VERSION');
      await registry.setKillSwitch(request.model, mode, request.reason, context.plan.principal.id);
      await sync.refresh(request.model);
      record(context, `kill-switch:${mode}`, { model: request.model, reason: request.reason });
      return { model: await describe(request.model) };
    },

    async listModelVersions(request) {
      if (request.model !== '') checkName('model', request.model);
      const models = await registry.list(request.model === '' ? undefined : request.model);
      if (request.model !== '' && models.length === 0) throw errors.modelNotFound(request.model, []);
      return { models: models.map(toAdminModel) };
    },

    async getModelVersion(request) {
      checkName('model', request.model);
      if (request.version !== '') checkName('version', request.version);
      const [state] = await registry.list(request.model);
      if (state === undefined) throw errors.modelNotFound(request.model, []);
      const version = request.version === '' ? state.defaultVersion : request.version;
      const { onnx, manifest } = await registry.artifact(request.model, version);
      return { model: request.model, version, onnx, manifestJson: JSON.stringify(manifest) };
    },

    async reloadModels(_, context) {
      await sync.refresh();
      record(context, 'reload', {});
      return { models: (await registry.list()).map(toAdminModel) };
    },
  };
}
