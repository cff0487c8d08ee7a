/** Header names with the spellings the specs use, and parsers for the headers the API reads. */
import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../registry/errors.ts';
import type { ChunkOptions } from '../registry/uploads.ts';
import { rangeHeader } from '../registry/uploads.ts';
import type { ByteRange } from '../registry/blobs.ts';

export const API_VERSION_HEADER = 'Docker-Distribution-API-Version';
export const API_VERSION = 'registry/2.0';
export const CONTENT_DIGEST_HEADER = 'Docker-Content-Digest';
export const UPLOAD_UUID_HEADER = 'Docker-Upload-UUID';
export const OCI_SUBJECT_HEADER = 'OCI-Subject';
export const OCI_FILTERS_APPLIED_HEADER = 'OCI-Filters-Applied';

/** Content-Length as a number, or undefined when the body is chunked or absent. */
export function contentLength(req: IncomingMessage): number | undefined {
  const value = req.headers['content-length'];
  return value === undefined ? undefined : Number(value);
}

/** Whether the request carries a body (RFC 9112 §6.3: Transfer-Encoding, or a non-zero Content-Length). */
export function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = contentLength(req);
  return length !== undefined && length > 0;
}

/**
 * Content-Range of an upload chunk. The spec's form is "<start>-<end>" (inclusive); the RFC 9110
 * forms "bytes <start>-<end>/<total|*>" and "bytes=<start>-<end>" that some clients send are accepted.
 */
export function chunkOptions(req: IncomingMessage, currentSize: () => number | undefined = () => undefined): ChunkOptions {
  const options: ChunkOptions = {};
  const length = contentLength(req);
  if (length !== undefined) options.length = length;
  const header = req.headers['content-range'];
  if (header === undefined) return options;
  const match = /^(?:bytes[ =])?(\d{1,15})-(\d{1,15})(?:\/(?:\d{1,15}|\*))?$/.exec(header.trim());
  const start = match ? Number(match[1]) : NaN;
  const end = match ? Number(match[2]) : NaN;
  if (!match || end < start) {
    const size = currentSize();
    throw new RegistryError('RANGE_INVALID', {
      message: `Content-Range "${header.slice(0, 100)}" is not "<start>-<end>" with start <= end`,
      ...(size !== undefined ? { headers: { Range: rangeHeader(size) } } : {}),
    });
  }
  options.range = { start, end };
  return options;
}

/**
 * If-None-Match against the ETag of the response (RFC 9110 §13.1.2): true when the client already
 * has this representation and a GET or HEAD must be answered 304. "*" matches anything; entity tags
 * are compared weakly (a W/ prefix is ignored), as the RFC requires for If-None-Match.
 * Koa's ctx.fresh is not used: it never answers 304 to a request carrying Cache-Control: no-cache
 * (which fetch() adds to every conditional request), but the RFC makes the origin evaluate the
 * precondition regardless; no-cache only tells caches to revalidate with us.
 */
export function ifNoneMatchHolds(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  const wanted = opaque(etag);
  return header.split(',').some((tag) => tag.trim() === '*' || opaque(tag) === wanted);
}

/**
 * The Range header of a blob GET (RFC 9110 §14.1.2): "bytes=a-b", "bytes=a-" or "bytes=-n", one range.
 * Returns null for no Range header, and for one the RFC lets or makes us ignore (then the whole blob
 * is served with 200): a range unit other than bytes (§14.2: MUST ignore) and a well-formed set of
 * several ranges (§14.2: MAY ignore; we do not build multipart/byteranges bodies).
 * Throws RANGE_INVALID (416, with Content-Range: bytes * /size) for a byte range that is malformed or
 * cannot be satisfied.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | null {
  if (header === undefined) return null;
  const unsatisfiable = (why: string) =>
    new RegistryError('RANGE_INVALID', {
      message: `Range "${header.slice(0, 100)}" ${why} (the blob has ${size} bytes)`,
      detail: { size },
      headers: { 'Content-Range': `bytes */${size}` },
    });
  const unit = /^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)=/.exec(header);
  if (unit && unit[1]!.toLowerCase() !== 'bytes') return null;
  const specs = unit ? header.slice(unit[0].length).split(',').map((spec) => spec.trim()) : [];
  const byteSpec = /^(\d{0,15})-(\d{0,15})$/;
  const wellFormed = specs.length > 0 && specs.every((spec) => {
    const m = byteSpec.exec(spec);
    return m !== null && (m[1] !== '' || m[2] !== '');
  });
  if (!wellFormed) {
    throw unsatisfiable('is not one range of the form bytes=start-end, bytes=start- or bytes=-suffix');
  }
  if (specs.length > 1) return null;
  const match = byteSpec.exec(specs[0]!)!;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) throw unsatisfiable('selects no bytes');
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (match[2] !== '' && Number(match[2]) < start) throw unsatisfiable('ends before it starts');
  if (start >= size) throw unsatisfiable('starts past the end');
  return { start, end };
}
