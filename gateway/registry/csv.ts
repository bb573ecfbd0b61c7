/**
 * A small RFC 4180 CSV reader (no CSV package is installed): `,` separates
 * fields, CRLF or LF ends a record, a field in `"…"` may hold `,`, line
 * breaks and `""` (an escaped quote). A UTF-8 BOM is skipped and a final
 * line break does not make an empty record. Throws with the 1-based line of
 * a malformed quote.
 */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  let quoted = false;
  let pending = false;
  const endField = () => {
    row.push(field);
    field = "";
    pending = false;
  };
  const endRow = () => {
    endField();
    // A blank line is no record (RFC 4180 has none; spreadsheets leave them).
    if (!(row.length === 1 && row[0] === "")) rows.push(row);
    row = [];
  };
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        const n = text[i];
        if (n !== undefined && n !== "," && n !== "\n" && n !== "\r") throw new Error(`line ${line}: unexpected ${JSON.stringify(n)} after a closing quote`);
        continue;
      }
      if (c === "\n") line++;
      field += c;
      i++;
      continue;
    }
    if (c === '"') {
      if (field !== "") throw new Error(`line ${line}: a quote inside an unquoted field`);
      quoted = true;
      pending = true;
      i++;
    } else if (c === ",") {
      endField();
      pending = true; // the next field exists even if empty
      i++;
    } else if (c === "\r" || c === "\n") {
      endRow();
      i += c === "\r" && text[i + 1] === "\n" ? 2 : 1;
      line++;
    } else {
      field += c;
      i++;
    }
  }
  if (quoted) throw new Error(`line ${line}: unterminated quoted field`);
  if (field !== "" || pending || row.length > 0) endRow();
  return rows;
}
