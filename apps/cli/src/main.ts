// The `titans` command line: finds the subcommand and runs it. A new subcommand is a
// module in ./commands exporting a `Command`, added to the list below.
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

/** Runs `titans <argv...>` and returns the exit code (0 ok, 1 check failed, 2 bad input). */
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
    if (error instanceof UsageError) {
      context.err(`titans ${command.name}: ${error.message}`);
      return EXIT.usage;
    }
    throw error;
  }
}
