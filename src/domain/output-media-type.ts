/**
 * The media type Drover names for an output file, by its extension. Only formats no
 * browser runs script from get their own type (images, plain text, CSV, JSON); anything
 * else, SVG and HTML included, is `application/octet-stream`: a program's output is
 * whatever the program (or whoever gave it its inputs) wrote.
 */

/** Extension (lower case, with the dot) to media type. */
const mediaTypes: Readonly<Record<string, string>> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.json': 'application/json',
  '.csv': 'text/csv',
  '.tsv': 'text/tab-separated-values',
  '.txt': 'text/plain',
  '.log': 'text/plain',
  '.out': 'text/plain',
  '.err': 'text/plain',
  '.md': 'text/plain',
};

/** The media type of an output, from its path's extension; `application/octet-stream` when not one of the safe few. */
export function outputMediaType(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  const dot = name.lastIndexOf('.');
  return (dot > 0 && mediaTypes[name.slice(dot)]) || 'application/octet-stream';
}

/**
 * The Content-Type header for an output: its media type, with `charset=utf-8` for text
 * (so that a browser never guesses another encoding).
 */
export function outputContentType(path: string): string {
  const type = outputMediaType(path);
  return type.startsWith('text/') ? `${type}; charset=utf-8` : type;
}
