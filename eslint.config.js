// Type-checked lint plus the layer rules that keep dependencies pointing one way.
import js from '@eslint/js';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const FEATURES = ['generate', 'train', 'gallery', 'models', 'wallet', 'settings', 'jobs'];

/** src-main layers: each may import only from the ones listed. */
const MAIN_LAYERS = {
  platform: [],
  storage: ['platform'],
  queue: ['platform', 'storage'],
  library: ['platform', 'storage', 'queue'],
  // The models library (stored model files, their import and downloads).
  models: ['platform', 'storage', 'queue', 'engine'],
  generation: ['platform', 'storage', 'queue', 'library', 'engine', 'models'],
  studio: ['platform', 'storage', 'queue', 'library', 'engine', 'generation', 'models'],
  server: ['platform', 'studio'],
  cli: ['platform', 'studio', 'server'],
  app: ['platform', 'studio', 'engine'],
  // The engine knows nothing of the queue, the UI or Electron: only src-shared and its own parts.
  engine: [],
};
const ALL_MAIN = Object.keys(MAIN_LAYERS);

export default tseslint.config(
  { ignores: ['dist/**', 'release/**', 'node_modules/**', 'test-results/**', '**/*.mjs', 'bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
      globals: { ...globals.node },
    },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/only-throw-error': 'error',
      'import-x/no-cycle': 'error',
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              target: './src-shared',
              from: ['./src-main', './src-renderer', './src-cloud'],
              message: 'src-shared imports nothing of the app.',
            },
            {
              target: './src-renderer',
              from: ['./src-main', './src-cloud'],
              message: 'The renderer talks to main only through the contract.',
            },
            { target: './src-main', from: ['./src-renderer'], message: 'Main never imports the renderer.' },
            ...Object.entries(MAIN_LAYERS).map(([layer, allowed]) => ({
              target: `./src-main/${layer}`,
              from: ALL_MAIN.filter((l) => l !== layer && !allowed.includes(l)).map((l) => `./src-main/${l}`),
              message: `src-main/${layer} may import only: ${allowed.join(', ') || 'nothing of src-main'}.`,
            })),
            ...FEATURES.map((f) => ({
              target: `./src-renderer/src/features/${f}`,
              from: FEATURES.filter((o) => o !== f).map((o) => `./src-renderer/src/features/${o}`),
              message: 'Features never import each other; compose them in app/.',
            })),
          ],
        },
      ],
    },
    settings: { 'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.tsx', '.js', '.json'] })] },
  },
  {
    // Only the Electron shell may import electron.
    files: ['src-main/**/*.ts', 'src-shared/**/*.ts', 'src-renderer/**/*.{ts,tsx}'],
    ignores: ['src-main/app/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'electron', message: 'Only src-main/app imports electron.' }] },
      ],
    },
  },
  {
    files: ['src-renderer/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    languageOptions: { globals: { ...globals.browser } },
    rules: { ...reactHooks.configs.recommended.rules },
  },
  {
    // Tests poke at internals and use loose mocks.
    files: ['tests/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
