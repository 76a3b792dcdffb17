/**
 * ESLint for `npm run lint`: typescript-eslint's recommended rules over the server, tests,
 * benchmarks, scripts and the web UI, plus React's rules of hooks in web/src. Formatting is
 * Prettier's job (.prettierrc.json) and import boundaries are dependency-cruiser's
 * (.dependency-cruiser.cjs), so no rule here overlaps them.
 *
 * Not type-aware: typed linting (recommendedTypeChecked) took about two minutes on the
 * project machine, against the 20 s of these rules, and most of its findings were
 * no-unsafe-* reports on the tests' loosely read JSON.
 */
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['dist/', 'web/dist/', 'src/api-client/schema.d.ts', '.drover/']),
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Input checks match NUL and other control characters on purpose: that is what they refuse.
      'no-control-regex': 'off',
      // An empty `catch {}` is the idiom for "fall back to the value already set".
      'no-empty': ['error', { allowEmptyCatch: true }],
      // `_name` marks a parameter or binding kept for its position or shape.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // Tests read JSON answers and rows loosely on purpose; production code should type them,
    // so there `any` is reported (a warning until the existing uses are typed).
    files: ['src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'warn' },
  },
  {
    files: ['test/**/*.ts', '**/*.test.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['web/src/**/*.{ts,tsx}'],
    languageOptions: { globals: globals.browser },
    plugins: { 'react-hooks': reactHooks },
    rules: {
      'react-hooks/rules-of-hooks': 'error',
      // useAsync(load, deps) forwards its caller's deps to useEffect: check them like useEffect's.
      'react-hooks/exhaustive-deps': ['error', { additionalHooks: '^useAsync$' }],
    },
  },
);
