// `titans reproduce`: the paper's claims at small scale with one command. See run.ts for the
// runner, recipes.ts for the plans and tuned recipes, report.ts for what the report holds.
export { runReproduce, resolvePlan, ReproduceError, type ReproduceOptions, type ReproduceSummary } from './run.js';
export { reproduceCommand } from './command.js';
export { PLANS, MQAR_RECIPE, PASSKEY_RECIPE, TINY_MODEL, ABLATIONS, type PlanName, type ReproducePlan, type ModelRecipe, type TrainRecipe } from './recipes.js';
export { planExperiments, type Experiment } from './experiments.js';
export { planModelConfig, planModels } from './models.js';
export { mqarSource, passkeySource, longContextSource } from './tasks.js';
