/**
 * Concurrent writers that insert or update overlapping keys must take the row and unique-index
 * locks in one global order, or two of them can each hold what the other waits for (a deadlock).
 * Every multi-row write here sorts its rows with this comparator first.
 */
export function byKey<T>(key: (item: T) => string): (a: T, b: T) => number {
  return (a, b) => {
    const ka = key(a);
    const kb = key(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  };
}
