import config from '@titans/eslint-config';

// .tmp/ holds gitignored scratch scripts (probes, tuning experiments), not part of the package.
export default [{ ignores: ['.tmp/**'] }, ...config];
