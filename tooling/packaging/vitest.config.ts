import { packageConfig } from '../vitest.shared.ts';

// One test file that packs, installs, bundles and runs a browser: minutes, not seconds.
export default packageConfig({ testTimeout: 300_000, hookTimeout: 900_000 });
