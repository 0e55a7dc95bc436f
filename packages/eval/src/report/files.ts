// Writes a result bundle: <name>.json plus one .svg per figure and, optionally, an HTML
// report, all in one directory.

import { join, mkdirSync, writeFileSync } from '../node-host.ts';
import { toJson, type HtmlReport } from './html.ts';

export interface ReportBundle {
  /** File stem for the JSON and HTML files. */
  name: string;
  result: unknown;
  /** Figure file stem -> SVG string. */
  figures?: Readonly<Record<string, string>>;
  html?: HtmlReport;
}

/** Writes the bundle and returns the paths written. */
export function writeReport(directory: string, bundle: ReportBundle): string[] {
  if (!/^[\w.-]+$/.test(bundle.name)) throw new Error(`writeReport: name '${bundle.name}' must be a plain file stem`);
  mkdirSync(directory, { recursive: true });
  const written: string[] = [];
  const write = (file: string, text: string): void => {
    const path = join(directory, file);
    writeFileSync(path, text);
    written.push(path);
  };
  write(`${bundle.name}.json`, toJson(bundle.result));
  for (const [stem, svg] of Object.entries(bundle.figures ?? {})) {
    if (!/^[\w.-]+$/.test(stem)) throw new Error(`writeReport: figure name '${stem}' must be a plain file stem`);
    write(`${stem}.svg`, svg);
  }
  if (bundle.html) write(`${bundle.name}.html`, bundle.html.toString());
  return written;
}
