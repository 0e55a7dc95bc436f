import { packageConfig } from '../../tooling/vitest.shared.ts';

// The site test builds the site once and drives headless Chromium through every demo.
export default packageConfig({ testTimeout: 240_000, hookTimeout: 300_000 });
