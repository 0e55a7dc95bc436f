// Child process for the Ctrl-C test: trains with handleSigint, sends itself SIGINT after
// step 3, and prints the result as JSON. The checkpoint goes to argv[2].
import { train } from '../src/train/index.ts';
import { Bigram, TokenStream } from './train-fixtures.ts';

const dir = process.argv[2]!;
const result = await train({
  model: new Bigram(),
  steps: 1000,
  batches: new TokenStream(2, 8),
  checkpointDir: dir,
  handleSigint: true,
  log: (event) => {
    if (event.type === 'step' && event.step === 3) process.kill(process.pid, 'SIGINT');
  },
});
process.stdout.write(`${JSON.stringify({ interrupted: result.interrupted, step: result.step, listeners: process.listenerCount('SIGINT') })}\n`);
