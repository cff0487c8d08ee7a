/**
 * Documents kept whole in jsonb columns (a webhook delivery, a maintenance run, a user): JSON has no
 * dates, so a Date is written as {"$date": "<ISO time>"} and read back as a Date, at any depth, as
 * nedb does with its {"$$date": ms}. The columns beside a document (ids, times, states) are what
 * queries filter and sort on; the document is what the code above reads.
 */

/** The JSON text to store for `doc` (dates marked; `_id` left out: it is the row's key). */
export function encodeDoc(doc: object): string {
  return JSON.stringify(doc, function (this: Record<string, unknown>, key, value: unknown) {
    if (key === '_id' && this === doc) return undefined;
    const raw = this[key];
    return raw instanceof Date ? { $date: raw.toISOString() } : value;
  });
}

/** A stored document (parsed jsonb) with its dates restored and its id put back. */
export function decodeDoc<T>(stored: unknown, id?: string): T {
  const restored = restoreDates(stored) as Record<string, unknown>;
  return (id === undefined ? restored : { _id: id, ...restored }) as T;
}

function restoreDates(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(restoreDates);
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length === 1 && keys[0] === '$date' && typeof record.$date === 'string') return new Date(record.$date);
  const out: Record<string, unknown> = {};
  for (const key of keys) out[key] = restoreDates(record[key]);
  return out;
}
