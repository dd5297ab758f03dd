// ESLint for the package's own modules (the entry module and what ships beside it in pkg/):
// the pages' rules (www/eslint.config.js), with the page's and the worker's globals.
// Run from the repository root: www/node_modules/.bin/eslint src/web
import js from '../../www/node_modules/@eslint/js/src/index.js';
import globals from '../../www/node_modules/globals/index.js';

export default [
  js.configs.recommended,
  {
    files: ['**/*.js'],
    languageOptions: { ecmaVersion: 2024, sourceType: 'module', globals: { ...globals.browser, ...globals.worker } },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
      'max-lines': ['error', { max: 800 }],
    },
  },
];
