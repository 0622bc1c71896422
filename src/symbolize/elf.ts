// ELF64 little-endian reader for symbolization: headers first, then only the sections a lookup
// needs (symbol and string tables, the build-id note). Never reads a whole multi-hundred-MB file.
// The symbol index of a file (not of a buffer) is kept in the boot-scoped file-facts cache
// (elf-symbol-cache.ts), so that a binary seen by an earlier run is not indexed again.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { cacheDirFromEnv, fileIdentity, type FileIdentity } from '../util/cache-dir.js';
import { readFact, writeFact } from '../util/file-facts-cache.js';
import { zlib } from '../util/lazy-builtins.js';
import { decodeSymbolIndex, encodeSymbolIndex, SYMBOL_INDEX_FACT, type SymbolIndexArrays } from './elf-symbol-cache.js';

/** Malformed, truncated or unsupported input. Every failure to parse surfaces as this type. */
export class ElfError extends Error {
  constructor(
    readonly code: 'ENOTELF' | 'EUNSUPPORTED' | 'ETRUNCATED' | 'EIO',
    message: string,
  ) {
    super(message);
    this.name = 'ElfError';
  }
}

/** Random-access bytes: a file, or a buffer (the vDSO image read from /proc/PID/mem). */
export interface ByteSource {
  readonly size: number;
  /** The identity of the file read (none for a buffer): what facts cached about it are keyed by. */
  readonly identity?: FileIdentity;
  /** Up to `length` bytes at `offset`; shorter only at the end of the source. */
  read(offset: number, length: number): Buffer;
  close(): void;
}

export class BufferSource implements ByteSource {
  constructor(private readonly buf: Buffer) {}
  get size(): number {
    return this.buf.length;
  }
  read(offset: number, length: number): Buffer {
    if (offset >= this.buf.length || length <= 0) return Buffer.alloc(0);
    return this.buf.subarray(offset, Math.min(this.buf.length, offset + length));
  }
  close(): void {}
}

export class FileSource implements ByteSource {
  private fd: number | null;
  readonly size: number;
  readonly identity: FileIdentity;
  private constructor(fd: number) {
    this.fd = fd;
    this.identity = fileIdentity(fstatSync(fd, { bigint: true }));
    this.size = Number(this.identity.size);
  }
  /** Opens `path` read-only; throws ElfError('EIO') when it cannot. */
  static open(path: string): FileSource {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw new ElfError('EIO', `cannot open ${path}: ${(e as Error).message}`);
    }
    try {
      return new FileSource(fd);
    } catch (e) {
      closeSync(fd);
      throw new ElfError('EIO', `cannot stat ${path}: ${(e as Error).message}`);
    }
  }
  read(offset: number, length: number): Buffer {
    if (this.fd === null) throw new ElfError('EIO', 'file is closed');
    const len = Math.max(0, Math.min(length, this.size - offset));
    const buf = Buffer.allocUnsafe(len);
    let done = 0;
    try {
      while (done < len) {
        const n = readSync(this.fd, buf, done, len - done, offset + done);
        if (n <= 0) break;
        done += n;
      }
    } catch (e) {
      throw new ElfError('EIO', `read failed: ${(e as Error).message}`);
    }
    return done === len ? buf : buf.subarray(0, done);
  }
  close(): void {
    if (this.fd !== null) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = null;
    }
  }
}

export const ET_EXEC = 2;
export const ET_DYN = 3;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const PF_X = 1;
const SHT_SYMTAB = 2;
const SHT_NOTE = 7;
const SHT_NOBITS = 8;
const SHT_DYNSYM = 11;
const SHN_UNDEF = 0;
const SHN_LORESERVE = 0xff00;
const SHN_XINDEX = 0xffff;
const STT_FUNC = 2;
/** Symbol names are read from the file in blocks of this many bytes (stringAt)... */
const STRING_BLOCK = 16 * 1024;
/** ...keeping at most this many (8 MB: all of node's .strtab). */
const MAX_STRING_BLOCKS = 512;
const STT_GNU_IFUNC = 10;
const STB_LOCAL = 0;
const STB_GLOBAL = 1;
const STB_WEAK = 2;
const NT_GNU_BUILD_ID = 3;
const SHF_COMPRESSED = 0x800n;
const ELFCOMPRESS_ZLIB = 1;
const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const PHDR_SIZE = 56;
const SYM_SIZE = 24;
/** Sanity bounds against corrupt headers claiming absurd counts. */
const MAX_SECTIONS = 1 << 20;
const MAX_PHDRS = 1 << 16;
const MAX_NOTE_BYTES = 1 << 20;

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
}

export interface ElfProgramHeader {
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
  memsz: bigint;
}

export interface ElfSymbol {
  name: string;
  /** st_value: the symbol's virtual address in the file's address space. */
  value: bigint;
  /** st_size (0 when the producer did not record one). */
  size: bigint;
  type: 'func' | 'ifunc';
  binding: 'local' | 'global' | 'weak' | 'other';
  sectionIndex: number;
  source: 'symtab' | 'dynsym';
}

/** A lookup result: the covering symbol and how far into it the address lies. */
export interface ElfSymbolMatch {
  name: string;
  start: bigint;
  /** Exclusive end of the range this symbol covers (from st_size, or up to the next symbol). */
  end: bigint;
  offset: bigint;
}

function u16(b: Buffer, o: number): number {
  return b.readUInt16LE(o);
}
function u32(b: Buffer, o: number): number {
  return b.readUInt32LE(o);
}
function u64(b: Buffer, o: number): bigint {
  return b.readBigUInt64LE(o);
}
/** A u64 file offset/size as a JS number, clamped (beyond 2^53 it is certainly past EOF). */
function u64n(b: Buffer, o: number): number {
  const v = b.readBigUInt64LE(o);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

/** Parses ELF notes in `buf`, returning the GNU build-id (lowercase hex) if present. */
export function parseBuildIdNote(buf: Buffer): string | undefined {
  let o = 0;
  while (o + 12 <= buf.length) {
    const namesz = u32(buf, o);
    const descsz = u32(buf, o + 4);
    const type = u32(buf, o + 8);
    const nameOff = o + 12;
    const descOff = nameOff + ((namesz + 3) & ~3);
    const next = descOff + ((descsz + 3) & ~3);
    if (namesz > buf.length || descsz > buf.length || descOff + descsz > buf.length) return undefined;
    const name = buf.toString('latin1', nameOff, nameOff + namesz).replace(/\0+$/, '');
    if (type === NT_GNU_BUILD_ID && name === 'GNU' && descsz > 0) return buf.toString('hex', descOff, descOff + descsz);
    if (next <= o) return undefined;
    o = next;
  }
  return undefined;
}

/** The symbol index built lazily from .symtab and .dynsym (or read back from the cache). */
interface SymbolIndex extends SymbolIndexArrays {
  names: (string | undefined)[];
  /**
   * The string tables of `strtabSections` as read to build the index; none when it came from the
   * cache: names are then read from the file one by one (stringAt).
   */
  strtabs: (Buffer | undefined)[];
  fromCache: boolean;
}

/** The symbol index's arrays, and whether they came from the cache (what the cache tests compare). */
export interface IndexedSymbols extends Readonly<SymbolIndexArrays> {
  fromCache: boolean;
}

/**
 * An ELF64 LE file. Construction reads the ELF header, section headers, section names and
 * program headers; symbol tables and notes are read on first use.
 */
export class ElfFile {
  readonly type: number;
  readonly machine: number;
  readonly entry: bigint;
  readonly sections: readonly ElfSection[];
  readonly programHeaders: readonly ElfProgramHeader[];
  /** Problems met while parsing (truncated tables, bad offsets); what is valid is still used. */
  readonly problems: string[] = [];
  private index: SymbolIndex | null = null;
  private buildIdValue: string | undefined | null = null;
  /** Blocks of the file that symbol names were read from (stringAt), by block number. */
  private readonly stringBlocks = new Map<number, Buffer>();

  private constructor(private readonly src: ByteSource) {
    if (src.size < EHDR_SIZE) throw new ElfError('ENOTELF', `too short for an ELF header (${src.size} bytes)`);
    const eh = src.read(0, EHDR_SIZE);
    if (eh.length < EHDR_SIZE) throw new ElfError('ETRUNCATED', 'short read of the ELF header');
    if (eh[0] !== 0x7f || eh[1] !== 0x45 || eh[2] !== 0x4c || eh[3] !== 0x46) throw new ElfError('ENOTELF', 'no ELF magic');
    if (eh[4] !== 2) throw new ElfError('EUNSUPPORTED', 'not ELF64');
    if (eh[5] !== 1) throw new ElfError('EUNSUPPORTED', 'not little-endian');
    this.type = u16(eh, 16);
    this.machine = u16(eh, 18);
    this.entry = u64(eh, 24);
    const phoff = u64n(eh, 32);
    const shoff = u64n(eh, 40);
    const phentsize = u16(eh, 54);
    let phnum = u16(eh, 56);
    const shentsize = u16(eh, 58);
    let shnum = u16(eh, 60);
    let shstrndx = u16(eh, 62);

    // Section headers, with extended numbering (e_shnum == 0 / e_shstrndx == SHN_XINDEX).
    const sections: ElfSection[] = [];
    if (shoff > 0 && shoff < src.size && shentsize >= SHDR_SIZE) {
      if (shnum === 0 || shstrndx === SHN_XINDEX || phnum === 0xffff) {
        const first = src.read(shoff, SHDR_SIZE);
        if (first.length === SHDR_SIZE) {
          if (shnum === 0) shnum = Math.min(u64n(first, 32), MAX_SECTIONS);
          if (shstrndx === SHN_XINDEX) shstrndx = u32(first, 40);
          if (phnum === 0xffff) phnum = u32(first, 44);
        }
      }
      const want = Math.min(shnum, MAX_SECTIONS);
      const raw = src.read(shoff, want * shentsize);
      const have = Math.floor(raw.length / shentsize);
      if (have < want) this.problems.push(`section header table truncated (${have} of ${want})`);
      for (let i = 0; i < have; i++) {
        const o = i * shentsize;
        sections.push({
          index: i,
          name: '',
          type: u32(raw, o + 4),
          flags: u64(raw, o + 8),
          addr: u64(raw, o + 16),
          offset: u64n(raw, o + 24),
          size: u64n(raw, o + 32),
          link: u32(raw, o + 40),
          info: u32(raw, o + 44),
          entsize: u64n(raw, o + 56),
        });
      }
      const strSec = sections[shstrndx];
      if (strSec && strSec.type !== SHT_NOBITS) {
        const names = this.sectionData(strSec);
        for (let i = 0; i < have; i++) {
          const nameOff = u32(raw, i * shentsize);
          sections[i]!.name = cstr(names, nameOff);
        }
      } else if (have > 0) {
        this.problems.push('no section name table');
      }
    } else if (shoff !== 0) {
      this.problems.push('section header table outside the file');
    }
    this.sections = sections;

    const phdrs: ElfProgramHeader[] = [];
    if (phoff > 0 && phoff < src.size && phentsize >= PHDR_SIZE) {
      const want = Math.min(phnum, MAX_PHDRS);
      const raw = src.read(phoff, want * phentsize);
      const have = Math.floor(raw.length / phentsize);
      if (have < want) this.problems.push(`program header table truncated (${have} of ${want})`);
      for (let i = 0; i < have; i++) {
        const o = i * phentsize;
        phdrs.push({
          type: u32(raw, o),
          flags: u32(raw, o + 4),
          offset: u64(raw, o + 8),
          vaddr: u64(raw, o + 16),
          filesz: u64(raw, o + 32),
          memsz: u64(raw, o + 40),
        });
      }
    }
    this.programHeaders = phdrs;
  }

  /** Parses `src`; throws ElfError when it is not a usable ELF64 LE image. Takes ownership of `src`. */
  static fromSource(src: ByteSource): ElfFile {
    try {
      return new ElfFile(src);
    } catch (e) {
      src.close();
      throw asElfError(e);
    }
  }

  /** Opens and parses the headers of `path` (the file stays open for lazy reads until close()). */
  static open(path: string): ElfFile {
    return ElfFile.fromSource(FileSource.open(path));
  }

  static fromBuffer(buf: Buffer): ElfFile {
    return ElfFile.fromSource(new BufferSource(buf));
  }

  close(): void {
    this.src.close();
  }

  /** The identity of the file this was read from; undefined for a buffer. */
  get identity(): FileIdentity | undefined {
    return this.src.identity;
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  get hasEhFrame(): boolean {
    return this.sections.some((s) => s.name === '.eh_frame' && s.type !== SHT_NOBITS && s.size > 0);
  }

  get hasDebugFrame(): boolean {
    return this.sections.some((s) => s.name === '.debug_frame' && s.type !== SHT_NOBITS && s.size > 0);
  }

  get hasSymtab(): boolean {
    return this.sections.some((s) => s.type === SHT_SYMTAB && s.size > 0);
  }

  /** PT_LOAD segments, in file order. */
  get loadSegments(): ElfProgramHeader[] {
    return this.programHeaders.filter((p) => p.type === PT_LOAD);
  }

  /**
   * The PT_LOAD segment whose file bytes contain `fileOffset`, or undefined (never a guess).
   */
  loadSegmentForOffset(fileOffset: bigint): ElfProgramHeader | undefined {
    for (const p of this.programHeaders) {
      if (p.type === PT_LOAD && fileOffset >= p.offset && fileOffset < p.offset + p.filesz) return p;
    }
    return undefined;
  }

  /** The GNU build-id as lowercase hex, from .note.gnu.build-id (or any note section/segment). */
  get buildId(): string | undefined {
    if (this.buildIdValue === null) this.buildIdValue = this.readBuildId();
    return this.buildIdValue;
  }

  private readBuildId(): string | undefined {
    try {
      const named = this.sections.find((s) => s.name === '.note.gnu.build-id' && s.type === SHT_NOTE);
      const candidates = named ? [named, ...this.sections.filter((s) => s.type === SHT_NOTE && s !== named)] : this.sections.filter((s) => s.type === SHT_NOTE);
      for (const s of candidates) {
        const id = parseBuildIdNote(this.sectionData(s, MAX_NOTE_BYTES));
        if (id) return id;
      }
      for (const p of this.programHeaders) {
        if (p.type !== PT_NOTE) continue;
        const off = Number(p.offset);
        const len = Math.min(Number(p.filesz), MAX_NOTE_BYTES);
        if (!Number.isSafeInteger(off) || off >= this.src.size) continue;
        const id = parseBuildIdNote(this.src.read(off, len));
        if (id) return id;
      }
    } catch (e) {
      this.problems.push(`build-id: ${(e as Error).message}`);
    }
    return undefined;
  }

  /**
   * The contents of section `name` (the first of that name), decompressed when it is
   * SHF_COMPRESSED with zlib; undefined when absent, empty, NOBITS or unreadable. Unwinding reads
   * .eh_frame, .eh_frame_hdr and .debug_frame this way.
   */
  sectionContents(name: string): Buffer | undefined {
    const s = this.sections.find((x) => x.name === name);
    if (!s || s.type === SHT_NOBITS || s.size === 0) return undefined;
    try {
      const data = this.sectionData(s);
      if ((s.flags & SHF_COMPRESSED) === 0n) return data;
      // Elf64_Chdr: ch_type, ch_reserved, ch_size, ch_addralign; then the stream.
      if (data.length < 24 || data.readUInt32LE(0) !== ELFCOMPRESS_ZLIB) return undefined;
      return zlib().inflateSync(data.subarray(24));
    } catch (e) {
      this.problems.push(`${name}: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** The bytes of a section, clamped to the file (and to `max` bytes). */
  private sectionData(s: ElfSection, max = Number.MAX_SAFE_INTEGER): Buffer {
    if (s.type === SHT_NOBITS || s.offset >= this.src.size) return Buffer.alloc(0);
    const len = Math.min(s.size, max, this.src.size - s.offset);
    if (len < s.size && len < max) this.problems.push(`section ${s.name || s.index} truncated`);
    return this.src.read(s.offset, len);
  }

  /** Every function symbol (STT_FUNC, STT_GNU_IFUNC) from .symtab and .dynsym, unsorted. */
  functionSymbols(): ElfSymbol[] {
    const out: ElfSymbol[] = [];
    for (const t of this.readSymbolTables()) {
      for (let i = 0; i < t.count; i++) {
        const o = i * t.entsize;
        const info = t.data[o + 4]!;
        const stype = info & 0xf;
        if (stype !== STT_FUNC && stype !== STT_GNU_IFUNC) continue;
        const shndx = u16(t.data, o + 6);
        if (shndx === SHN_UNDEF || (shndx >= SHN_LORESERVE && shndx !== SHN_XINDEX)) continue;
        const bind = info >> 4;
        out.push({
          name: cstr(t.strtab, u32(t.data, o)),
          value: u64(t.data, o + 8),
          size: u64(t.data, o + 16),
          type: stype === STT_FUNC ? 'func' : 'ifunc',
          binding: bind === STB_LOCAL ? 'local' : bind === STB_GLOBAL ? 'global' : bind === STB_WEAK ? 'weak' : 'other',
          sectionIndex: shndx,
          source: t.source,
        });
      }
    }
    return out;
  }

  private readSymbolTables(): SymbolTable[] {
    const out: SymbolTable[] = [];
    for (const type of [SHT_SYMTAB, SHT_DYNSYM]) {
      for (const s of this.sections) {
        if (s.type !== type) continue;
        const entsize = s.entsize >= SYM_SIZE ? s.entsize : SYM_SIZE;
        const data = this.sectionData(s);
        const count = Math.floor(data.length / entsize);
        const strSec = this.sections[s.link];
        if (!strSec) {
          this.problems.push(`${s.name}: bad string table link ${s.link}`);
          continue;
        }
        out.push({ source: type === SHT_SYMTAB ? 'symtab' : 'dynsym', data, entsize, count, strtab: this.sectionData(strSec), strtabSection: s.link });
      }
    }
    return out;
  }

  /** Number of distinct function start addresses (builds the index). */
  get symbolCount(): number {
    return this.symbolIndex().starts.length;
  }

  /** The function symbol covering `vaddr` (a file-relative virtual address), if any. */
  lookup(vaddr: bigint): ElfSymbolMatch | undefined {
    const ix = this.symbolIndex();
    const j = this.covering(ix, vaddr);
    if (j < 0) return undefined;
    const start = ix.base + BigInt(ix.starts[j]!);
    return { name: this.nameOf(ix, j), start, end: ix.base + BigInt(ix.ends[j]!), offset: vaddr - start };
  }

  /**
   * The index entry (0 .. symbolCount - 1) of the function symbol covering `vaddr`, or -1: what
   * `lookup` finds, without building the match (three BigInts), for callers that keep something
   * per symbol (the symbolizer's printed names). Its name: `symbolName`.
   */
  symbolAt(vaddr: bigint): number {
    return this.covering(this.symbolIndex(), vaddr);
  }

  /** The name of index entry `j` (from `symbolAt`). */
  symbolName(j: number): string {
    return this.nameOf(this.symbolIndex(), j);
  }

  /** The index's arrays (building or reading the index first). */
  indexedSymbols(): IndexedSymbols {
    return this.symbolIndex();
  }

  /** The (decoded once) name of index entry `j`. */
  private nameOf(ix: SymbolIndex, j: number): string {
    let name = ix.names[j];
    if (name === undefined) {
      const t = ix.strtabOf[j]!;
      const strtab = ix.strtabs[t];
      name = strtab ? cstr(strtab, ix.nameOff[j]!) : this.stringAt(this.sections[ix.strtabSections[t]!], ix.nameOff[j]!);
      ix.names[j] = name;
    }
    return name;
  }

  /**
   * The NUL-terminated string at `off` in string table `sec`: what cstr finds there in the whole
   * table (sectionData), without reading megabytes of names (a large C++ binary's .strtab: node's
   * is 7.5 MB) for the few a profile shows. Read in 16 KB blocks kept for the next names: one
   * read(2) per name had cost ~4 us each, a third of symbolizing a profile of 80,000 functions.
   */
  private stringAt(sec: ElfSection | undefined, off: number): string {
    if (!sec || sec.type === SHT_NOBITS || sec.offset >= this.src.size) return '';
    const limit = Math.min(sec.size, this.src.size - sec.offset);
    if (off >= limit) return '';
    const end = sec.offset + limit;
    const parts: Buffer[] = [];
    try {
      for (let at = sec.offset + off; at < end; ) {
        const block = this.stringBlock(Math.floor(at / STRING_BLOCK));
        const from = at % STRING_BLOCK;
        const to = Math.min(block.length, from + (end - at));
        const nul = block.indexOf(0, from);
        if (nul >= 0 && nul < to) {
          parts.push(block.subarray(from, nul));
          break;
        }
        parts.push(block.subarray(from, to));
        if (block.length < STRING_BLOCK) break; // the end of the file
        at += to - from;
      }
    } catch (e) {
      this.problems.push(`symbol names: ${(e as Error).message}`);
      return '';
    }
    return parts.length === 1 ? parts[0]!.toString('utf8') : Buffer.concat(parts).toString('utf8');
  }

  /** Block `n` of the file (STRING_BLOCK bytes from n * STRING_BLOCK; shorter at the end). */
  private stringBlock(n: number): Buffer {
    let block = this.stringBlocks.get(n);
    if (block === undefined) {
      block = this.src.read(n * STRING_BLOCK, STRING_BLOCK);
      // Bounded: the oldest block goes first (a Map iterates in insertion order).
      if (this.stringBlocks.size >= MAX_STRING_BLOCKS) this.stringBlocks.delete(this.stringBlocks.keys().next().value!);
      this.stringBlocks.set(n, block);
    }
    return block;
  }

  /** Index of the entry covering `vaddr`, or -1. */
  private covering(ix: SymbolIndex, vaddr: bigint): number {
    if (vaddr < ix.base) return -1;
    const rel = vaddr - ix.base;
    if (rel > 0x1fffffffffffffn) return -1;
    const x = Number(rel);
    const { starts, ends, maxEnds } = ix;
    let lo = 0;
    let hi = starts.length - 1;
    let i = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= x) {
        i = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    // The nearest start at or below vaddr usually covers it; otherwise an earlier, larger
    // symbol may still enclose it. maxEnds bounds the walk.
    for (let j = i, steps = 0; j >= 0 && maxEnds[j]! > x && steps < 4096; j--, steps++) {
      if (ends[j]! > x) return j;
    }
    return -1;
  }

  /**
   * The sorted, de-duplicated address index: read from the cache, or built (once) and stored
   * there. Names stay undecoded until looked up.
   */
  private symbolIndex(): SymbolIndex {
    if (this.index) return this.index;
    const identity = this.src.identity;
    const cacheDir = identity ? cacheDirFromEnv() : null;
    const stored = identity ? readFact(cacheDir, SYMBOL_INDEX_FACT, identity) : null;
    const cached = stored ? decodeSymbolIndex(stored, this.sections.length) : null;
    if (cached) {
      const strtabs = new Array<Buffer | undefined>(cached.strtabSections.length);
      this.index = { ...cached, names: new Array<string | undefined>(cached.starts.length), strtabs, fromCache: true };
      return this.index;
    }
    const problemsBefore = this.problems.length;
    const built = this.buildSymbolIndex();
    // Only an index built without trouble is stored: a damaged file's problems are then
    // reported again by every run that reads it, not only by the first.
    const payload = identity && this.problems.length === problemsBefore ? encodeSymbolIndex(built) : null;
    if (identity && payload) writeFact(cacheDir, SYMBOL_INDEX_FACT, identity, payload);
    this.index = built;
    return built;
  }

  private buildSymbolIndex(): SymbolIndex {
    let tables: SymbolTable[] = [];
    try {
      tables = this.readSymbolTables();
    } catch (e) {
      this.problems.push(`symbols: ${(e as Error).message}`);
    }
    // This runs once per binary, cold, over ~200k symbols of a large C++ binary: few passes, each
    // in a small function of its own (V8 optimizes a small function's loop much sooner).
    const total = tables.reduce((n, t) => n + t.count, 0);
    const cols: FunctionColumns = {
      hiW: new Uint32Array(total),
      loW: new Uint32Array(total),
      vals: new Float64Array(total),
      size: new Float64Array(total),
      rank: new Uint8Array(total),
      shndxOf: new Uint32Array(total),
      tabOf: new Uint8Array(total),
      nameAt: new Uint32Array(total),
      n: 0,
      needBase: false,
      min: Infinity,
      max: -Infinity,
    };
    const strtabs: Buffer[] = [];
    const strtabSections: number[] = [];
    for (const t of tables) {
      const strIdx = strtabs.length;
      if (strIdx > 255) break;
      strtabs.push(t.strtab);
      strtabSections.push(t.strtabSection);
      if (t.entsize % 4 !== 0) continue;
      // The table viewed as 32-bit words (an aligned copy when it is not aligned): far faster
      // than Buffer reads per field.
      const bytes = t.count * t.entsize;
      const w =
        t.data.byteOffset % 4 === 0
          ? new Uint32Array(t.data.buffer, t.data.byteOffset, bytes / 4)
          : new Uint32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + bytes));
      collectFunctions(cols, w, t.entsize / 4, t.count, t.strtab, t.source === 'symtab', strIdx);
    }
    const n = cols.n;
    const vals = cols.vals.subarray(0, n);
    // Addresses as doubles, relative to the lowest one when they do not fit in 53 bits.
    let base = 0n;
    if (cols.needBase) {
      const { hiW, loW } = cols;
      let min: bigint | null = null;
      for (let i = 0; i < n; i++) {
        const v = (BigInt(hiW[i]!) << 32n) | BigInt(loW[i]!);
        if (min === null || v < min) min = v;
      }
      base = min ?? 0n;
      cols.min = Infinity;
      cols.max = -Infinity;
      for (let i = 0; i < n; i++) {
        const rel = ((BigInt(hiW[i]!) << 32n) | BigInt(loW[i]!)) - base;
        const v = rel > 0x1fffffffffffffn ? 2 ** 53 : Number(rel);
        vals[i] = v;
        if (v < cols.min) cols.min = v;
        if (v > cols.max) cols.max = v;
      }
    }
    // One entry per distinct start address: the preferred alias (lowest rank; among equal ranks
    // the first in table order), with the largest size recorded by any of its aliases.
    const order = sortByAddressRankIndex(vals, cols.rank, n, cols.min, cols.max);
    const entries = distinctStarts(order, cols);
    const m = entries.m;
    const { starts, firstOf, uSize } = entries;
    const ends = new Float64Array(m);
    const maxEnds = new Float64Array(m);
    const shndxOf = cols.shndxOf;
    // Size unknown: covers up to the next symbol, but never past the end of its section.
    const sectionEnd = (k: number): number => {
      const start = starts[k]!;
      const sec = this.sections[shndxOf[firstOf[k]!]!];
      const secAddr = sec ? Number(sec.addr - base) : NaN;
      return sec && sec.size > 0 && start >= secAddr ? secAddr + sec.size : start + 1;
    };
    computeEnds(starts, uSize, sectionEnd, ends, maxEnds);
    return {
      base,
      starts,
      ends,
      maxEnds,
      strtabOf: entries.strtabOf,
      nameOff: entries.nameOff,
      strtabSections: Uint32Array.from(strtabSections),
      names: new Array<string | undefined>(m),
      strtabs,
      fromCache: false,
    };
  }
}

/** One symbol table as read, with its string table. */
interface SymbolTable {
  source: 'symtab' | 'dynsym';
  data: Buffer;
  entsize: number;
  count: number;
  strtab: Buffer;
  /** The section index of `strtab`. */
  strtabSection: number;
}

/** Function symbols gathered from the symbol tables, columnar (see collectFunctions). */
interface FunctionColumns {
  /** st_value as high and low 32-bit words, and as a double (while no address needs a base). */
  hiW: Uint32Array;
  loW: Uint32Array;
  vals: Float64Array;
  /** st_size (2^53 when larger). */
  size: Float64Array;
  /** Preference among aliases at one address, lowest first. */
  rank: Uint8Array;
  shndxOf: Uint32Array;
  /** Which string table, and the name's offset in it. */
  tabOf: Uint8Array;
  nameAt: Uint32Array;
  /** Entries filled so far. */
  n: number;
  /** Some address does not fit in 53 bits: addresses must be taken relative to the lowest. */
  needBase: boolean;
  /** Lowest and highest of `vals`. */
  min: number;
  max: number;
}

/** Appends the named, defined function symbols of one table (`w`: its words) to `c`. */
function collectFunctions(c: FunctionColumns, w: Uint32Array, stride: number, count: number, strtab: Buffer, fromSymtab: boolean, strIdx: number): void {
  const { hiW, loW, vals, size, rank, shndxOf, tabOf, nameAt } = c;
  const strLen = strtab.length;
  let n = c.n;
  let needBase = c.needBase;
  let min = c.min;
  let max = c.max;
  for (let i = 0, o = 0; i < count; i++, o += stride) {
    const w1 = w[o + 1]!;
    const info = w1 & 0xff;
    const stype = info & 0xf;
    if (stype !== STT_FUNC && stype !== STT_GNU_IFUNC) continue;
    const shndx = w1 >>> 16;
    if (shndx === SHN_UNDEF || (shndx >= SHN_LORESERVE && shndx !== SHN_XINDEX)) continue;
    const nameOff = w[o]!;
    if (nameOff >= strLen || strtab[nameOff] === 0) continue; // unnamed
    const bind = info >> 4;
    const hi = w[o + 3]!;
    const lo = w[o + 2]!;
    loW[n] = lo;
    hiW[n] = hi;
    if (hi >= 0x200000) needBase = true;
    const v = hi * 4294967296 + lo;
    vals[n] = v;
    if (v < min) min = v;
    if (v > max) max = v;
    const szHi = w[o + 5]!;
    size[n] = szHi >= 0x200000 ? 2 ** 53 : szHi * 4294967296 + w[o + 4]!;
    // Preference among aliases at one address: global, then weak, then local; symtab first.
    rank[n] = (bind === STB_GLOBAL ? 0 : bind === STB_WEAK ? 1 : 2) * 2 + (fromSymtab ? 0 : 1);
    shndxOf[n] = shndx;
    tabOf[n] = strIdx;
    nameAt[n] = nameOff;
    n++;
  }
  c.n = n;
  c.needBase = needBase;
  c.min = min;
  c.max = max;
}

/**
 * Walks `order` (sorted by address, then preference) and keeps the first symbol of each address,
 * with the largest size of its aliases: the index entries, by start address.
 */
function distinctStarts(
  order: Uint32Array,
  c: FunctionColumns,
): { m: number; starts: Float64Array; firstOf: Uint32Array; uSize: Float64Array; strtabOf: Uint8Array; nameOff: Uint32Array } {
  const n = order.length;
  const { vals, size, tabOf, nameAt } = c;
  const starts = new Float64Array(n);
  const firstOf = new Uint32Array(n);
  const uSize = new Float64Array(n);
  const strtabOf = new Uint8Array(n);
  const nameOff = new Uint32Array(n);
  let m = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    const v = vals[i]!;
    if (m > 0 && starts[m - 1] === v) {
      if (size[i]! > uSize[m - 1]!) uSize[m - 1] = size[i]!;
      continue;
    }
    starts[m] = v;
    firstOf[m] = i;
    uSize[m] = size[i]!;
    strtabOf[m] = tabOf[i]!;
    nameOff[m] = nameAt[i]!;
    m++;
  }
  return { m, starts: starts.slice(0, m), firstOf, uSize, strtabOf: strtabOf.slice(0, m), nameOff: nameOff.slice(0, m) };
}

/** Exclusive ends (from the size, else `sectionEnd` capped by the next start) and their running maximum. */
function computeEnds(starts: Float64Array, uSize: Float64Array, sectionEnd: (k: number) => number, ends: Float64Array, maxEnds: Float64Array): void {
  const m = starts.length;
  for (let k = 0; k < m; k++) {
    const start = starts[k]!;
    let end: number;
    if (uSize[k]! > 0) {
      end = start + uSize[k]!;
    } else {
      const next = k + 1 < m ? starts[k + 1]! : Infinity;
      end = Math.min(next, sectionEnd(k));
      if (!(end > start)) end = start + 1;
    }
    ends[k] = end;
    maxEnds[k] = k > 0 && maxEnds[k - 1]! > end ? maxEnds[k - 1]! : end;
  }
}

/** Host byte order, for writing 64-bit sort keys as two 32-bit words. */
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Indices 0..n-1 ordered by (vals[i], rank[i], i); `min`, `max`: the extremes of `vals`. Each
 * triple is packed into one 64-bit key (address relative to the lowest, then rank, then index)
 * and the keys sorted by the engine's native BigUint64Array sort: a comparator sort of the
 * ~200k symbols of a large C++ binary was the largest single cost of its first lookup. Falls
 * back to that comparator sort when the keys do not fit in 64 bits (address spread beyond
 * ~2^40, which no single binary has). Exported for its tests.
 */
export function sortByAddressRankIndex(vals: Float64Array, rank: Uint8Array, n: number, min: number, max: number): Uint32Array {
  const order = new Uint32Array(n);
  if (n === 0) return order;
  const idxBits = Math.max(1, 32 - Math.clz32(n - 1));
  const tagBits = idxBits + 3; // rank < 8
  if (tagBits > 31 || max - min >= 2 ** (64 - tagBits)) {
    for (let i = 0; i < n; i++) order[i] = i;
    return order.sort((a, b) => vals[a]! - vals[b]! || rank[a]! - rank[b]! || a - b);
  }
  const keys = new BigUint64Array(n);
  const words = new Uint32Array(keys.buffer);
  const lo = LITTLE_ENDIAN_HOST ? 0 : 1;
  const tagScale = 2 ** tagBits;
  const rankScale = 2 ** idxBits;
  const loSpan = 2 ** (32 - tagBits);
  for (let i = 0; i < n; i++) {
    const rel = vals[i]! - min;
    const relLo = rel % loSpan;
    words[2 * i + lo] = relLo * tagScale + rank[i]! * rankScale + i;
    words[2 * i + 1 - lo] = (rel - relLo) / loSpan;
  }
  keys.sort();
  const mask = rankScale - 1;
  for (let k = 0; k < n; k++) order[k] = words[2 * k + lo]! & mask;
  return order;
}

function cstr(buf: Buffer, off: number): string {
  if (off >= buf.length) return '';
  let end = buf.indexOf(0, off);
  if (end < 0) end = buf.length;
  return buf.toString('utf8', off, end);
}

function asElfError(e: unknown): ElfError {
  if (e instanceof ElfError) return e;
  // RangeError from a Buffer read past a short read: the file is truncated or corrupt.
  return new ElfError('ETRUNCATED', `malformed ELF: ${(e as Error)?.message ?? String(e)}`);
}
