// @titans/cli: the `titans` command. The modules are exported so other tools can run
// subcommands in-process and new subcommands can reuse the option parsing.
export { commands, defaultContext, main } from './main.js';
export { EXIT, UsageError, parseOptions, resolveUserPath, userDirectory, type Command, type CommandContext } from './command.js';
export { verifyMemory } from './commands/verify-memory.js';
export { trainCommand } from './commands/train.js';
export { evalCommand } from './commands/eval.js';
export { niahCommand } from './commands/niah.js';
export { generateCommand } from './commands/generate.js';
export { benchCommand } from './commands/bench.js';
export { exportCommand } from './commands/export.js';
export { infoCommand } from './commands/info.js';
export { dataCommand } from './commands/data.js';
export { demoCommand } from './commands/demo.js';
export { DEMO_RECIPE, demoModelConfig, quickRecipe, type DemoRecipe } from './demo/recipe.js';
export { runDemo, type DemoResult, type DemoModelResult, type DemoOptions } from './demo/demo.js';
export { parseArgs, type GlobalOptions, type ParsedArgs, type BackendChoice } from './options.js';
export { presetConfig, presetNames, resolveRunConfig, type RunConfig, type DataConfig, type TrainConfig } from './run-config.js';
export { evaluatePasskey, evaluateCorpusPerplexity, type PasskeyResult } from './evaluation.js';
