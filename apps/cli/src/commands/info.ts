// `titans info`: what a checkpoint, a config file or a preset holds: architecture, sizes,
// parameter counts by part, memory settings, training progress and files.
import { existsSync, statSync } from 'node:fs';
import { formatDuration, parameterBreakdown, type ModelConfig, type TrainerState } from '@titans/models';
import { EXIT, UsageError, resolveUserPath, type Command } from '../command.js';
import { readCheckpointSummary } from '../checkpoint.js';
import { fixed, formatBytes, grouped } from '../format.js';
import { expectPositional, parseArgs } from '../options.js';
import { presetConfig, presetNames, readConfigFile, resolveRunConfig, type RunConfig } from '../run-config.js';

const usage = `usage: titans info <checkpoint-dir | config.json> | --preset NAME | --presets [--json]

Summarises a checkpoint (architecture, parameters, training step and loss, files), a config
file or a preset.

  --preset NAME     show a preset's config and parameter count (e.g. tiny-mac, paper-mac-170M)
  --presets         list the preset names
  --json            machine-readable output

exit codes: 0 done, 2 bad input`;

function modelLines(config: ModelConfig): string[] {
  const p = parameterBreakdown(config);
  const lines = [
    `architecture   ${config.architecture}`,
    `parameters     ${grouped(p.total)} (embedding ${grouped(p.embedding)}, head ${grouped(p.head)}, per block ${grouped(p.perBlock)}: attention ${grouped(p.attention)}, memory ${grouped(p.memory)}, mlp ${grouped(p.mlp)})`,
    `shape          vocab ${config.vocabSize}, dim ${config.dim}, ${config.layers} blocks, ${config.heads} heads, mlp ${config.mlpHidden}, ${config.dtype}`,
  ];
  if (['swa', 'mag', 'mal', 'mac'].includes(config.architecture)) lines.push(`attention      window ${config.window || 'unlimited'}${config.architecture === 'mac' ? `, segment ${config.segmentLength}` : ''}, ${config.persistentTokens} persistent tokens`);
  if (p.memory > 0) {
    const m = config.memory;
    lines.push(`memory         ${m.heads} heads, ${m.depth === 1 ? 'linear' : `MLP depth ${m.depth} x${m.expansion}`}, chunk ${m.chunkSize}, conv ${m.convKernel}, thetaMax ${m.thetaMax}${m.ruleOverrides?.maxSurpriseNorm ? `, maxSurpriseNorm ${m.ruleOverrides.maxSurpriseNorm}` : ''}`);
  }
  return lines;
}

function trainerLines(trainer: TrainerState): string[] {
  const losses = trainer.losses.filter((l): l is number => l !== null);
  const last = losses.at(-1);
  const lines = [
    `trainer step   ${trainer.step} of ${trainer.totalSteps}${trainer.step >= trainer.totalSteps ? ' (complete)' : ''}, lr ${trainer.lr.toExponential(2)}, ${grouped(trainer.tokens)} tokens, ${formatDuration(trainer.elapsedMs)}`,
    `loss           first ${fixed(losses[0], 4)}, last ${fixed(last, 4)}${trainer.skippedSteps ? `, ${trainer.skippedSteps} skipped steps` : ''}`,
  ];
  const evals = trainer.evals.at(-1);
  if (evals) lines.push(`validation     ${fixed(evals.value, 4)} at step ${evals.step}`);
  return lines;
}

function runLines(run: RunConfig): string[] {
  const d = run.data;
  const t = run.train;
  return [
    `data           ${d.task}${d.textFiles ? ` (${d.textFiles.join(', ')})` : ''}, ${d.tokenizer} tokens, ${d.batchSize} x ${d.sequenceLength} per step`,
    `optimizer      AdamW lr ${t.lr}, warmup ${t.warmupSteps}, weight decay ${t.weightDecay}, clip ${t.clipNorm}, seed ${run.seed}`,
  ];
}

/** Why a paper-<arch>-<size> preset's count differs from its size label. */
const PAPER_PRESET_NOTE = [
  'paper-<arch>-<size>: the paper\'s blocks, width and heads for that size label, with a 32K vocabulary',
  'and the Llama MLP width. The label names the paper\'s shape, not a parameter count: Transformer++',
  'and SWA come out at 0.8-1.1x of it, the memory-only models (LMM, DeltaNet, Gated DeltaNet, Moneta,',
  'Yaad, Memora) at 0.8-1.2x, and MAC, MAG and MAL, which carry attention and a memory in every',
  'block, at 1.0-1.5x. To fit a parameter budget, set the MLP width: --set model.mlpHidden=N with',
  '--preset, or paperConfig(arch, size, { mlpHidden }). Hope and Hope-attention, whose continuum',
  'memory adds three MLP levels to every block, come out at 1.2-2.0x. The Atlas family has no paper',
  'presets: its degree-2 features would give it 1.4-8x the label (paperConfig builds them from code).',
].join('\n');

export const infoCommand: Command = {
  name: 'info',
  summary: 'summarise a checkpoint, config file or preset (architecture, parameters, trainer step)',
  usage,
  async run(args, context) {
    const parsed = parseArgs(args, { values: ['preset'], flags: ['presets'] });
    if (parsed.flags.has('presets')) {
      expectPositional(parsed.positional, 0, 0, 'no arguments');
      const names = presetNames();
      const rows = names.map((name) => {
        const c = presetConfig(name);
        return { name, parameters: parameterBreakdown(c).total, layers: c.layers, dim: c.dim, heads: c.heads };
      });
      if (parsed.global.json) context.out(JSON.stringify(rows, null, 2));
      else {
        for (const r of rows) context.out(`${r.name.padEnd(28)} ${grouped(r.parameters).padStart(15)} parameters   ${r.layers} blocks x ${r.dim}, ${r.heads} heads`);
        context.out('');
        context.out(PAPER_PRESET_NOTE);
      }
      return EXIT.ok;
    }
    if (parsed.values.preset !== undefined) {
      expectPositional(parsed.positional, 0, 0, 'no arguments');
      const config = presetConfig(parsed.values.preset);
      if (parsed.global.json) context.out(JSON.stringify({ preset: parsed.values.preset, config, parameters: parameterBreakdown(config) }, null, 2));
      else {
        context.out(`preset         ${parsed.values.preset}`);
        for (const line of modelLines(config)) context.out(line);
      }
      return EXIT.ok;
    }
    expectPositional(parsed.positional, 1, 1, 'a checkpoint directory or config file (or --preset NAME)');
    const path = parsed.positional[0]!;
    const resolved = resolveUserPath(path, context);
    if (existsSync(resolved) && statSync(resolved).isFile()) {
      const input = readConfigFile(resolved, path);
      const run = resolveRunConfig(input);
      if (parsed.global.json) context.out(JSON.stringify({ config: path, run, parameters: parameterBreakdown(run.model) }, null, 2));
      else {
        context.out(`config         ${path}`);
        // A bare model config says nothing about data or training: show only what it holds.
        for (const line of [...modelLines(run.model), ...(input.data || input.train ? runLines(run) : [])]) context.out(line);
      }
      return EXIT.ok;
    }
    if (!existsSync(resolved)) throw new UsageError(`cannot read ${path}: no such file or directory`);
    const summary = await readCheckpointSummary(path, context);
    if (parsed.global.json) {
      const { trainer } = summary;
      context.out(JSON.stringify({
        checkpoint: summary.dir, config: summary.config, parameters: parameterBreakdown(summary.config), tokenizer: summary.tokenizerName,
        trainer: trainer ? { ...trainer, lastLoss: trainer.losses.filter((l) => l !== null).at(-1) ?? null, losses: undefined } : null,
        run: summary.run, files: summary.files,
      }, null, 2));
      return EXIT.ok;
    }
    context.out(`checkpoint     ${summary.dir}`);
    for (const line of modelLines(summary.config)) context.out(line);
    if (summary.run) for (const line of runLines(summary.run)) context.out(line);
    else context.out(`tokenizer      ${summary.tokenizerName} (guessed from the vocabulary; no run.json)`);
    if (summary.trainer) for (const line of trainerLines(summary.trainer)) context.out(line);
    else context.out('trainer        none (weights only)');
    context.out(`files          ${Object.entries(summary.files).map(([name, size]) => `${name} ${formatBytes(size)}`).join(', ')}`);
    return EXIT.ok;
  },
};
