// The `titans` command line: finds the subcommand and runs it. A new subcommand is a
// module in ./commands exporting a `Command`, added to the list below.
import { CheckpointError, CheckpointSaveError, NonFiniteOutputError, TrainingDivergedError } from '@titans/models';
import { EXIT, UsageError, userDirectory, type Command, type CommandContext } from './command.js';
import { verifyMemory } from './commands/verify-memory.js';
import { benchCommand } from './commands/bench.js';
import { dataCommand } from './commands/data.js';
import { demoCommand } from './commands/demo.js';
import { evalCommand } from './commands/eval.js';
import { exportCommand } from './commands/export.js';
import { generateCommand } from './commands/generate.js';
import { infoCommand } from './commands/info.js';
import { niahCommand } from './commands/niah.js';
import { trainCommand } from './commands/train.js';
import { reproduceCommand } from './reproduce/command.js';

export const commands: readonly Command[] = [
  demoCommand, trainCommand, evalCommand, niahCommand, generateCommand, infoCommand, dataCommand, benchCommand, verifyMemory, exportCommand, reproduceCommand,
];

/** Global flags may come before the command (`titans --json info DIR`); they are passed on after it. */
function hoistGlobalFlags(argv: readonly string[]): string[] {
  const leading: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = arg.split('=')[0]!;
    if (name === '--json') leading.push(arg);
    else if (['--backend', '--seed', '--out'].includes(name)) {
      leading.push(arg);
      if (!arg.includes('=') && i + 1 < argv.length) leading.push(argv[++i]!);
    } else break;
  }
  return i === 0 || i >= argv.length ? [...argv] : [argv[i]!, ...leading, ...argv.slice(i + 1)];
}

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: titans <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'global options: --backend cpu|webgpu|auto (default cpu), --seed N, --json, --out DIR',
    'Run `titans <command> --help` for a command\'s options.',
  ].join('\n');
}

export function defaultContext(): CommandContext {
  return {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    cwd: userDirectory(),
  };
}

/** Runs `titans <argv...>` and returns the exit code (0 ok, 1 check failed or the machine refused, 2 bad input, 130 interrupted). */
export async function main(argv: readonly string[], context: CommandContext = defaultContext()): Promise<number> {
  const [name, ...args] = hoistGlobalFlags(argv);
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? context.err : context.out)(help());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    context.err(`titans: unknown command '${name}' (commands: ${commands.map((c) => c.name).join(', ')})`);
    return EXIT.usage;
  }
  if (args.includes('--help') || args.includes('-h')) {
    context.out(command.usage);
    return EXIT.ok;
  }
  try {
    return await command.run(args, context);
  } catch (error) {
    const outcome = expectedFailure(error);
    if (outcome) {
      context.err(`titans ${command.name}: ${outcome.message}`);
      return outcome.code;
    }
    throw error;
  }
}

/** File-system errors that mean the input (a path, a permission) is wrong: exit 2. */
const INPUT_ERRNOS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR', 'ENOENT', 'EEXIST', 'ENAMETOOLONG', 'ELOOP', 'ENOTEMPTY', 'EXDEV']);
/** File-system errors of the machine (full disk, IO): exit 1, the command could not finish. */
const MACHINE_ERRNOS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EMFILE', 'ENFILE', 'EFBIG']);

/**
 * Errors that are not bugs, as one line and an exit code: bad input (exit 2), a checkpoint
 * that cannot be read, and the machine refusing a write or an allocation (exit 1). Anything
 * else is an internal error (exit 70 with its stack, from run.ts).
 */
export function expectedFailure(error: unknown): { message: string; code: number } | null {
  if (error instanceof UsageError) return { message: error.message, code: EXIT.usage };
  if (error instanceof CheckpointError) return { message: firstLine(error.message), code: EXIT.usage };
  if (error instanceof TrainingDivergedError || error instanceof CheckpointSaveError) return { message: firstLine(error.message.replace(/^train: /, '')), code: EXIT.failed };
  if (error instanceof NonFiniteOutputError) return { message: firstLine(error.message), code: EXIT.failed };
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string' && (INPUT_ERRNOS.has(code) || MACHINE_ERRNOS.has(code))) {
    return { message: firstLine((error as Error).message), code: INPUT_ERRNOS.has(code) ? EXIT.usage : EXIT.failed };
  }
  if (error instanceof RangeError && /Array buffer allocation failed|Invalid typed array length|Invalid array length|Invalid string length/.test(error.message)) {
    return { message: `too large for this machine's memory (${error.message})`, code: EXIT.failed };
  }
  return null;
}

function firstLine(text: string): string {
  return text.split('\n')[0]!;
}
