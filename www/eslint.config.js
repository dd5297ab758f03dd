// ESLint for Glance's pages (browser modules), the kiosk's service worker, and the Node side
// (the dev server and the tests, whose page.evaluate() callbacks run in the browser).
// Run: cd www && npx eslint .
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['node_modules/**'] },
  js.configs.recommended,
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { ecmaVersion: 2024, sourceType: 'module' },
    rules: {
      // `_name` marks a value left unused on purpose (a destructured member dropped, say).
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['editor/**/*.js', 'dashboard/**/*.js', 'kiosk/**/*.js', 'lib/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
  {
    files: ['kiosk/sw.js'],
    languageOptions: { globals: globals.serviceworker },
  },
  {
    files: ['serve.mjs', 'eslint.config.js'],
    languageOptions: { globals: globals.node },
  },
  {
    files: ['tests/**/*.mjs'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
  {
    // Small functions and files by job (the tests' scenarios may run longer).
    ignores: ['tests/**'],
    rules: {
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
      'max-lines': ['error', { max: 800 }],
    },
  },
];
