// Lint rules that catch what review tends to miss: floating promises, import cycles,
// unsafe `any` flowing out of untyped libraries. Formatting is Prettier's job (eslint-config-prettier).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'gen/', 'coverage/', '.pgdata/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    // Resolves `./x.js` to `./x.ts` as TypeScript does; without it the import rules see no imports at all.
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })] },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
      // The layers: batch and client build on the server's modules, never the other way round.
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              target: './server',
              from: ['./batch', './client'],
              message: 'server/ must not import batch/ or client/ (batch and client build on the server).',
            },
            { target: './client', from: './batch', message: 'client/ must not import batch/.' },
            {
              target: './client',
              from: './server',
              message:
                'client/ builds on the generated protocol (gen/) alone, so it can ship without the server.',
            },
            {
              target: './server/src/config',
              from: './server/src',
              except: ['./config'],
              message:
                'config/ is the bottom layer: it parses the environment and owns its types; nothing it imports may build on it.',
            },
            {
              target: './server/src/telemetry',
              from: './server/src',
              except: ['./telemetry'],
              message: 'telemetry/ (logger, metrics, tracing) sits under every other layer.',
            },
          ],
        },
      ],
      // Handlers implement generated async interfaces; an async function without await is fine there.
      '@typescript-eslint/require-await': 'off',
      'no-console': 'error',
    },
  },
  {
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    // Asymmetric matchers (expect.any, expect.objectContaining) are typed `any` by vitest.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
  },
  {
    // CLIs (and their shared code in client/src/cli/) and the benchmark print to their terminal on purpose.
    files: [
      'batch/src/**/*-cli.ts',
      'client/src/**/*-cli.ts',
      'client/src/cli/**/*.ts',
      'bench/**/*.ts',
      'scripts/**/*.ts',
    ],
    rules: { 'no-console': 'off' },
  },
  prettier,
);
