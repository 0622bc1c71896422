// Folded stacks in, flame tree out, streamed: text chunks go through FoldedParser line by line and
// each record is added to the tree at once, so memory is bounded by the number of distinct stack
// paths, not by the input size (a million-line file never sits in memory). Malformed lines are
// handed to the caller as they are met (with their line number), or end the read with `strict`.

import type { Readable } from 'node:stream';
import { FoldedParser, type FoldedParseError } from './folded.js';
import { FlameTreeBuilder, type FlameTree } from './flame-tree.js';

export interface FoldedInputOptions {
  /** Stop at the first malformed line by throwing `MalformedFoldedLine` (default: skip it). */
  strict?: boolean;
  /** What the counts are (`samples` by default). */
  countName?: string;
  /** Called for each malformed line that is skipped. */
  onMalformed?: (error: FoldedParseError) => void;
}

export interface FoldedInputResult {
  tree: FlameTree;
  /** Lines read (blank and malformed included). */
  lines: number;
  /** Well-formed stack lines added. */
  records: number;
  /** Malformed lines skipped. */
  malformed: number;
}

/** Thrown in strict mode for the first malformed line. */
export class MalformedFoldedLine extends Error {
  readonly detail: FoldedParseError;
  constructor(detail: FoldedParseError) {
    super(`line ${detail.line}: ${detail.reason}: ${detail.text}`);
    this.name = 'MalformedFoldedLine';
    this.detail = detail;
  }
}

/** Read a whole stream of folded text (bytes as UTF-8, or strings) into a tree. */
export async function readFoldedStream(input: Readable | AsyncIterable<string | Buffer>, opts: FoldedInputOptions = {}): Promise<FoldedInputResult> {
  const builder = new FlameTreeBuilder(opts.countName ?? 'samples');
  let records = 0;
  let malformed = 0;
  const parser = new FoldedParser((r) => {
    records += 1;
    builder.addFolded(r);
  });
  // The parser keeps errors in an array; take them out as they come so it stays empty.
  const drain = (): void => {
    if (parser.errors.length === 0) return;
    for (const e of parser.errors.splice(0)) {
      if (opts.strict) throw new MalformedFoldedLine(e);
      malformed += 1;
      opts.onMalformed?.(e);
    }
  };
  const decoder = new TextDecoder('utf-8');
  let first = true;
  for await (const chunk of input) {
    let text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (first && text !== '') {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // UTF-8 byte order mark
      first = false;
    }
    parser.write(text);
    drain();
  }
  const tail = decoder.decode();
  if (tail !== '') parser.write(tail);
  parser.end();
  drain();
  return { tree: builder.build(), lines: parser.lines, records, malformed };
}
