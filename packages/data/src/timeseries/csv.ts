// A small RFC 4180 CSV parser (quoted fields, doubled quotes, CRLF) for the time-series
// files shipped by vega-datasets.

export interface CsvTable {
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

export function parseCsv(text: string, delimiter = ','): CsvTable {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const endField = (): void => {
    record.push(field);
    field = '';
  };
  const endRecord = (): void => {
    endField();
    if (!(record.length === 1 && record[0] === '')) records.push(record);
    record = [];
  };
  while (i < text.length) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += ch;
      i++;
      continue;
    }
    if (ch === '"' && field.length === 0) quoted = true;
    else if (ch === delimiter) endField();
    else if (ch === '\n') endRecord();
    else if (ch === '\r') {
      if (text[i + 1] !== '\n') endRecord();
    } else field += ch;
    i++;
  }
  if (quoted) throw new Error('parseCsv: unterminated quoted field');
  if (field.length > 0 || record.length > 0) endRecord();
  const [header, ...rows] = records;
  if (!header) throw new Error('parseCsv: empty input');
  rows.forEach((row, r) => {
    if (row.length !== header.length) throw new Error(`parseCsv: row ${r + 2} has ${row.length} fields, header has ${header.length}`);
  });
  return { header, rows };
}
