// @ts-check
import tseslint from 'typescript-eslint';

/**
 * The layers (DESIGN.md, Layout): schemas/ is the leaf; jobs/ is the pure core behind its ports; the
 * edges under services/ serve every process and never reach into one (tests/unit/lint/layers.test.ts).
 */
const layers = [
  {
    files: ['schemas/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+(jobs|services|scripts|tests)/',
              message: 'schemas/ is the leaf: it imports only other schemas/ files and zod.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['jobs/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+(services|scripts|tests)/',
              message:
                'jobs/ reaches services only through its ports (jobs/ports/); services implement them.',
            },
            {
              regex: '^(?!\\.{1,2}/|node:)',
              message:
                'jobs/ imports only schemas/, jobs/ and node built-ins: a library belongs behind a port.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['services/{storage,formats,scoring,queue,delivery,tenancy,process}/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+(services/)?(api|worker|scheduler|cli)/',
              message:
                'An edge (storage, formats, scoring, queue, delivery, tenancy, process) never imports a process folder.',
            },
          ],
        },
      ],
    },
  },
];

export default tseslint.config(
  { ignores: ['node_modules/', '.cache/', 'coverage/', 'dist/', '.gpu/'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...layers,
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // The dashboard's browser modules and its service worker (no build step): browser globals only.
    files: ['services/api/ui/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        [
          ...['window', 'document', 'location', 'navigator', 'sessionStorage', 'confirm', 'self'],
          ...['fetch', 'Headers', 'Request', 'Response', 'URL', 'URLSearchParams', 'AbortController'],
          ...['MessageChannel', 'DOMException', 'Node', 'HTMLElement', 'Blob', 'console'],
          ...['setTimeout', 'clearTimeout'],
        ].map((name) => [name, 'readonly']),
      ),
    },
    rules: { 'no-undef': 'error' },
  },
);
