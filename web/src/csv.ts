/**
 * Comma- (or tab-) separated values as the previews read them: RFC 4180 quoting, the first
 * row as the header, and which columns hold numbers (what the plot can draw).
 */

/** A parsed table: the header, the rows (each as long as the header) and per column whether every cell is a number. */
export interface CsvTable {
  header: string[];
  rows: string[][];
  /** Per column: every non-empty cell is a finite number (and at least one is). */
  numeric: boolean[];
}

/**
 * Parses `text` (RFC 4180: fields in double quotes may hold the delimiter, line breaks
 * and `""` for a quote). With `truncated`, the text was cut off: its last line, possibly
 * incomplete, is dropped. Rows shorter than the header are padded with empty cells,
 * longer ones cut to it.
 */
export function parseCsv(text: string, delimiter = ',', truncated = false): CsvTable {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  let index = 0;
  const endField = () => {
    record.push(field);
    field = '';
  };
  const endRecord = () => {
    endField();
    records.push(record);
    record = [];
  };
  while (index < text.length) {
    const character = text[index];
    if (quoted) {
      if (character === '"' && text[index + 1] === '"') {
        field += '"';
        index += 2;
        continue;
      }
      if (character === '"') quoted = false;
      else field += character;
      index++;
      continue;
    }
    if (character === '"' && field === '') quoted = true;
    else if (character === delimiter) endField();
    else if (character === '\n') endRecord();
    else if (character !== '\r') field += character;
    index++;
  }
  // A last line without a line break is a record, unless the text was cut inside it.
  if (!truncated && (field !== '' || record.length > 0)) endRecord();
  const [header = [], ...body] = records.filter((row) => !(row.length === 1 && row[0] === ''));
  const rows = body.map((row) => header.map((_, column) => row[column] ?? ''));
  const numeric = header.map((_, column) => {
    const cells = rows.map((row) => row[column].trim()).filter((cell) => cell !== '');
    return cells.length > 0 && cells.every((cell) => Number.isFinite(Number(cell)));
  });
  return { header, rows, numeric };
}
