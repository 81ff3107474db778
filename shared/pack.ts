/**
 * Splits items, in order, into groups of at most `maxCount` items and `maxBytes` by `sizeOf` (an
 * item larger than `maxBytes` still gets a group of its own). Used to fit queue limits: usage
 * bundles per message, replayed messages per sendBatch.
 */
export function packWithin<T>(items: readonly T[], maxCount: number, maxBytes: number, sizeOf: (item: T) => number): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (current.length > 0 && (current.length === maxCount || bytes + size > maxBytes)) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}
