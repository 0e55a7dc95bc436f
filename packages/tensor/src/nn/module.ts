// Modules: objects whose parameters form a named tree (the state dict). Parameters and
// child modules are found by walking the module's own fields, so a model reads like a
// plain class: `this.proj = new Linear(64, 64)`.
import { keep, noGrad } from '../engine.js';
import { detach } from '../ops/core.js';
import { formatShape } from '../shape.js';
import { Tensor, sameShape } from '../tensor.js';

/** Marks a tensor as a trainable parameter (a leaf that gradients are taken for). */
export function parameter(value: Tensor): Tensor {
  const p = value.node === null ? value : detach(value);
  p.requiresGrad = true;
  p.isParameter = true;
  return keep(p);
}

export abstract class Module {
  /** Dropout and similar layers behave differently when training. */
  training = true;

  /** Parameters with dotted names, in field order (children recursively). */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [key, value] of Object.entries(this)) {
      const name = prefix ? `${prefix}.${key}` : key;
      if (value instanceof Tensor) {
        if (value.isParameter) out.push([name, value]);
      } else if (value instanceof Module) {
        out.push(...value.namedParameters(name));
      } else if (Array.isArray(value)) {
        value.forEach((item, i) => {
          if (item instanceof Module) out.push(...item.namedParameters(`${name}.${i}`));
          else if (item instanceof Tensor && item.isParameter) out.push([`${name}.${i}`, item]);
        });
      }
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Number of scalar parameters. */
  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  modules(): Module[] {
    const out: Module[] = [this];
    for (const value of Object.values(this)) {
      if (value instanceof Module) out.push(...value.modules());
      else if (Array.isArray(value)) for (const item of value) if (item instanceof Module) out.push(...item.modules());
    }
    return out;
  }

  train(on = true): this {
    for (const m of this.modules()) m.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** The parameters by name (the tensors themselves, not copies). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.namedParameters());
  }

  /** Copies values into the parameters; names and shapes must match exactly (strict). */
  loadStateDict(state: Readonly<Record<string, Tensor>>, options: { strict?: boolean } = {}): void {
    const strict = options.strict ?? true;
    const named = this.namedParameters();
    const known = new Set(named.map(([n]) => n));
    if (strict) {
      const missing = named.filter(([n]) => !(n in state)).map(([n]) => n);
      const unexpected = Object.keys(state).filter((n) => !known.has(n));
      if (missing.length > 0 || unexpected.length > 0) {
        throw new Error(`loadStateDict: missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(unexpected)}`);
      }
    }
    noGrad(() => {
      for (const [name, p] of named) {
        const value = state[name];
        if (!value) continue;
        if (!sameShape(value.shape, p.shape)) {
          throw new Error(`loadStateDict: '${name}' has shape ${formatShape(value.shape)}, the model expects ${formatShape(p.shape)}`);
        }
        p.assign(value.dtype === p.dtype ? value : value.cast(p.dtype));
      }
    });
  }
}
