import { packageConfig } from '../../tooling/vitest.shared.ts';

// The site test builds the site once (API pages, then VitePress: about 280 s on a loaded
// 2-core machine) and drives headless Chromium through every demo.
export default packageConfig({ testTimeout: 240_000, hookTimeout: 600_000 });
