/**
 * What a file is, from its first bytes (like file(1), for the few kinds images are made of), and
 * whether it is text worth showing: valid UTF-8 without NUL bytes.
 */
const MAGIC: { bytes: number[]; offset?: number; kind: string }[] = [
  { bytes: [0x7f, 0x45, 0x4c, 0x46], kind: 'ELF executable or library' },
  { bytes: [0x1f, 0x8b], kind: 'gzip archive' },
  { bytes: [0x28, 0xb5, 0x2f, 0xfd], kind: 'zstd archive' },
  { bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], kind: 'xz archive' },
  { bytes: [0x42, 0x5a, 0x68], kind: 'bzip2 archive' },
  { bytes: [0x50, 0x4b, 0x03, 0x04], kind: 'zip archive (or jar, wheel)' },
  { bytes: [0x89, 0x50, 0x4e, 0x47], kind: 'PNG image' },
  { bytes: [0xff, 0xd8, 0xff], kind: 'JPEG image' },
  { bytes: [0x47, 0x49, 0x46, 0x38], kind: 'GIF image' },
  { bytes: [0x25, 0x50, 0x44, 0x46], kind: 'PDF document' },
  { bytes: [0x00, 0x61, 0x73, 0x6d], kind: 'WebAssembly module' },
  { bytes: [0xca, 0xfe, 0xba, 0xbe], kind: 'Java class or Mach-O universal binary' },
  { bytes: [0xcf, 0xfa, 0xed, 0xfe], kind: 'Mach-O executable' },
  { bytes: [0x4d, 0x5a], kind: 'Windows (PE) executable' },
  { bytes: [0x53, 0x51, 0x4c, 0x69, 0x74, 0x65], kind: 'SQLite database' },
  { bytes: [0x75, 0x73, 0x74, 0x61, 0x72], offset: 257, kind: 'tar archive' },
];

export interface FileKind {
  kind: string;
  text: boolean;
}

export function fileKind(head: Uint8Array): FileKind {
  for (const m of MAGIC) {
    const at = m.offset ?? 0;
    if (head.length >= at + m.bytes.length && m.bytes.every((b, i) => head[at + i] === b)) return { kind: m.kind, text: false };
  }
  if (head.length === 0) return { kind: 'empty', text: true };
  if (head.includes(0)) return { kind: 'binary data', text: false };
  // A cut inside a multi-byte character at the end of the sample is not invalid text.
  const sample = head.length > 4 ? head.subarray(0, head.length - 3) : head;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(sample);
  } catch {
    return { kind: 'binary data', text: false };
  }
  const start = new TextDecoder().decode(head.subarray(0, 64));
  if (start.startsWith('#!')) return { kind: `script (${start.slice(2).split('\n', 1)[0]!.trim()})`, text: true };
  if (/^\s*[{[]/.test(start)) return { kind: 'text (JSON?)', text: true };
  if (/^-----BEGIN /.test(start)) return { kind: 'PEM text', text: true };
  return { kind: 'text', text: true };
}
