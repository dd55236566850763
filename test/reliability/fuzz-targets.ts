import { readFileSync } from 'node:fs';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { Status } from 'nice-grpc';
import { HealthDefinition } from 'nice-grpc-server-health';
import {
  KillSwitchMode,
  ModelAdminServiceDefinition,
} from '../../gen/customer_intelligence/admin/v1/model_admin.js';
import {
  ScoreResponse,
  ScoreStreamResponse,
  ScoringServiceDefinition,
  type CustomerResult,
} from '../../gen/customer_intelligence/scoring/v1/scoring.js';
import {
  GRPCInferenceServiceDefinition,
  ModelStreamInferResponse,
} from '../../gen/inference/grpc_service.js';
import { mutateMessage } from '../helpers/message-mutator.js';
import type { SeededRandom } from '../helpers/seeded-random.js';
import { featuresRequest } from '../helpers/v2-client.js';

/** One RPC to fuzz: where it is, how it is called, and the valid requests the mutators start from. */
export interface FuzzTarget {
  /** Full method path, e.g. `/customer_intelligence.scoring.v1.ScoringService/Score`. */
  readonly path: string;
  /** `server-stream` calls are cancelled after their first response (a health Watch never ends). */
  readonly kind: 'unary' | 'server-stream' | 'bidi';
  /** Valid requests, encoded. */
  readonly valid: readonly Uint8Array[];
  /** A field-level mutation of a valid request, encoded by the generated code (`undefined`: it refused). */
  readonly mutate?: (random: SeededRandom) => Uint8Array | undefined;
  /** gRPC codes of the per-item errors inside one OK response (Score results, stream chunk errors). */
  readonly itemCodes?: (response: Buffer) => number[];
  /** Changes what is served (administration): fuzzed after every read-only RPC, then undone. */
  readonly changesState?: boolean;
}

interface MethodShape {
  readonly name: string;
  readonly requestType: {
    decode(input: Uint8Array): unknown;
    encode(message: never): { finish(): Uint8Array };
  };
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

interface ServiceShape {
  readonly fullName: string;
  readonly methods: Readonly<Record<string, MethodShape>>;
}

type RequestsOf<S extends ServiceShape> = {
  readonly [K in keyof S['methods']]: ReadonlyArray<ReturnType<S['methods'][K]['requestType']['decode']>>;
};

type ExtrasOf<S extends ServiceShape> = Partial<
  Record<keyof S['methods'], Pick<FuzzTarget, 'itemCodes' | 'changesState'>>
>;

/** A target per method of a ts-proto service definition; `requests` must name every method. */
function targetsOf<S extends ServiceShape>(
  service: S,
  requests: RequestsOf<S>,
  extras: ExtrasOf<S> = {},
): FuzzTarget[] {
  return Object.entries(service.methods).map(([key, method]) => {
    const codec = method.requestType as { encode(message: unknown): { finish(): Uint8Array } };
    const encode = (message: unknown) => codec.encode(message);
    const seeds = requests[key as keyof S['methods']] as readonly unknown[];
    return {
      path: `/${service.fullName}/${method.name}`,
      kind: method.requestStream ? 'bidi' : method.responseStream ? 'server-stream' : 'unary',
      valid: seeds.map((seed) => encode(seed).finish()),
      mutate: (random: SeededRandom) => mutateMessage(random.pick(seeds), encode, random),
      ...extras[key as keyof S['methods']],
    };
  });
}

const manifestOf = (model: string) =>
  JSON.parse(readFileSync(new URL(`../../models/${model}/1/manifest.json`, import.meta.url), 'utf8')) as {
    features: Array<{ name: string }>;
    warmupRows: number[][];
  };

const churn = manifestOf('churn');
const inline = Object.fromEntries(churn.features.map((f, i) => [f.name, churn.warmupRows[0]![i]!]));
const rows = churn.warmupRows.slice(0, 2);

const resultCodes = (results: readonly CustomerResult[]) =>
  results.flatMap((result) => (result.outcome?.$case === 'error' ? [result.outcome.value.code] : []));

const scoreInput = [
  { model: 'churn', modelVersion: '', customers: [{ customerId: '17', features: {} }], reasonCodes: 0 },
  { model: 'churn', modelVersion: '1', customers: [{ customerId: '', features: inline }], reasonCodes: 3 },
  {
    model: 'clv',
    modelVersion: '',
    customers: [
      { customerId: '5', features: { tenure_months: 3, autopay: 0 } },
      { customerId: '99999', features: {} },
    ],
    reasonCodes: 2,
  },
];

/** A registration the server accepts once (then ALREADY_EXISTS): the churn model as version `fuzz`. */
function registration() {
  const manifest = JSON.parse(
    readFileSync(new URL('../../models/churn/1/manifest.json', import.meta.url), 'utf8'),
  ) as Record<string, unknown>;
  return {
    model: 'churn',
    version: 'fuzz',
    onnx: readFileSync(new URL('../../models/churn/1/model.onnx', import.meta.url)),
    manifestJson: JSON.stringify({ ...manifest, version: 'fuzz' }),
    setDefault: false,
  };
}

/** `grpc.reflection.v1.ServerReflectionRequest`s (its generated code is google-protobuf's, not ts-proto's). */
function reflectionRequests(): Uint8Array[] {
  const request = (build: (writer: BinaryWriter) => BinaryWriter) =>
    build(new BinaryWriter().uint32(10).string('localhost')).finish();
  return [
    request((w) => w.uint32(58).string('')), // list_services
    request((w) => w.uint32(34).string('customer_intelligence.scoring.v1.ScoringService')),
    request((w) => w.uint32(26).string('inference/grpc_service.proto')),
    request((w) =>
      w.uint32(42).fork().uint32(10).string('inference.ModelInferRequest').uint32(16).int32(7).join(),
    ),
    request((w) => w.uint32(50).string('inference.InferParameter')),
  ];
}

/** Every RPC the server serves, with valid requests to start from. */
export function fuzzTargets(): FuzzTarget[] {
  return [
    ...targetsOf(
      ScoringServiceDefinition,
      {
        score: scoreInput,
        scoreStream: scoreInput.map((input, i) => ({ chunkId: `chunk-${i}`, ...input })),
        listModels: [{}],
        getModel: [
          { name: 'churn', version: '' },
          { name: 'clv', version: '1' },
        ],
      },
      {
        score: { itemCodes: (bytes) => resultCodes(ScoreResponse.decode(bytes).results) },
        scoreStream: {
          itemCodes: (bytes) => {
            const response = ScoreStreamResponse.decode(bytes);
            return [...(response.error ? [response.error.code] : []), ...resultCodes(response.results)];
          },
        },
      },
    ),
    ...targetsOf(
      GRPCInferenceServiceDefinition,
      {
        serverLive: [{}],
        serverReady: [{}],
        modelReady: [
          { name: 'churn', version: '' },
          { name: 'clv', version: '1' },
        ],
        serverMetadata: [{}],
        modelMetadata: [
          { name: 'churn', version: '' },
          { name: 'clv', version: '1' },
        ],
        modelConfig: [
          { name: 'churn', version: '' },
          { name: 'clv', version: '1' },
        ],
        modelStatistics: [
          { name: '', version: '' },
          { name: 'clv', version: '1' },
        ],
        modelInfer: [
          featuresRequest('churn', rows, { id: 'typed' }),
          featuresRequest('clv', rows, { raw: true, version: '1', outputs: ['clv'] }),
          {
            ...featuresRequest('churn', rows.slice(0, 1), {
              outputs: ['churn_probability', 'contributions'],
            }),
            parameters: { binary_data_output: { parameterChoice: { $case: 'boolParam', value: true } } },
          },
        ],
        modelStreamInfer: [
          featuresRequest('churn', rows, { id: 'a' }),
          featuresRequest('clv', rows, { raw: true, id: 'b' }),
        ],
        repositoryIndex: [
          { repositoryName: '', ready: false },
          { repositoryName: 'models', ready: true },
        ],
        repositoryModelLoad: [
          {
            repositoryName: '',
            modelName: 'churn',
            parameters: { unload_dependents: { parameterChoice: { $case: 'boolParam', value: false } } },
          },
        ],
        repositoryModelUnload: [
          {
            repositoryName: '',
            modelName: 'clv',
            parameters: { unload_dependents: { parameterChoice: { $case: 'stringParam', value: 'x' } } },
          },
        ],
      },
      {
        modelStreamInfer: {
          itemCodes: (bytes) => {
            const { errorMessage } = ModelStreamInferResponse.decode(bytes);
            if (errorMessage === '') return [];
            const name = /^([A-Z_]+):/.exec(errorMessage)?.[1];
            const code = name === undefined ? undefined : (Status as Record<string, unknown>)[name];
            return [typeof code === 'number' ? code : Status.UNKNOWN];
          },
        },
        repositoryModelLoad: { changesState: true },
        repositoryModelUnload: { changesState: true },
      },
    ),
    ...targetsOf(HealthDefinition, {
      check: [{ service: '' }, { service: 'churn' }, { service: ScoringServiceDefinition.fullName }],
      watch: [{ service: '' }, { service: 'clv' }],
    }),
    {
      path: '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
      kind: 'bidi',
      valid: reflectionRequests(),
    },
    ...targetsOf(
      ModelAdminServiceDefinition,
      {
        registerModelVersion: [registration()],
        setDefaultVersion: [
          { model: 'churn', version: '1' },
          { model: 'clv', version: '1' },
        ],
        rollbackModel: [{ model: 'churn' }],
        setKillSwitch: [
          { model: 'churn', mode: KillSwitchMode.KILL_SWITCH_MODE_OFF, reason: '' },
          { model: 'clv', mode: KillSwitchMode.KILL_SWITCH_MODE_PREVIOUS_VERSION, reason: 'fuzz' },
        ],
        listModelVersions: [{ model: '' }, { model: 'churn' }],
        getModelVersion: [
          { model: 'churn', version: '' },
          { model: 'clv', version: '1' },
        ],
        reloadModels: [{}],
      },
      Object.fromEntries(
        Object.keys(ModelAdminServiceDefinition.methods).map((key) => [key, { changesState: true }]),
      ),
    ),
  ];
}
