// ESLint flat config: a short rule set, each rule catching a bug this code
// base can actually have (a stream promise left floating, an async callback
// where Node ignores the promise), plus the layering the README describes.
import tseslint from 'typescript-eslint';

/** Layers below server/client/cli import none of them (README, Layout). */
const upward = ['**/server/**', '**/client/**', '**/cli/**', '../server/*', '../client/*', '../cli/*'];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'bench/results/', 'scratch/'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': ['error', { disallowTypeAnnotations: false }],
      '@typescript-eslint/no-explicit-any': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-control-regex': 'error',
      'no-empty-pattern': 'error',
      'no-var': 'error',
      'prefer-const': 'error',
    },
  },
  {
    files: ['src/util/**', 'src/openssh/**', 'src/engine/**', 'src/payload/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: upward, message: 'lower layers know nothing of server, client or CLI' }] }] },
  },
  {
    // ssh2's private internals live behind src/ssh2 alone (pinned ~1.17.0, shape-checked at start-up).
    // Node's own _writableState and a stdio stream's _handle are the two allowed outside it.
    files: ['src/**/*.ts'],
    ignores: ['src/ssh2/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'MemberExpression[property.name=/^_(?!writableState$|handle$)/]',
          message: "a '_'-prefixed field is private: reach ssh2 internals only through src/ssh2",
        },
        {
          selector: 'MemberExpression[computed=true][property.value=/^_/]',
          message: "a '_'-prefixed field is private: reach ssh2 internals only through src/ssh2",
        },
      ],
    },
  },
);
