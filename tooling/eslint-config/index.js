// Shared lint rules: typescript-eslint's recommended set, no `any`, unused names flagged.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['example.ts', '**/dist/**', '**/node_modules/**', '**/.vitepress/cache/**', '**/.vitepress/dist/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'prefer-const': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
);
