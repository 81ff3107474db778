import { createElement, lazy, type ComponentType } from "react";

/**
 * A code-split component that, once its module is loaded (by `preload()` or an earlier render),
 * renders synchronously. React.lazy alone suspends on every first render even when the module is
 * in memory, and React then holds the revealed content back until 300 ms after its fallback
 * appeared (its Suspense reveal throttle): a preloaded chart or API reference would still cost
 * a third of a second.
 */
export function preloadable<P extends object>(load: () => Promise<{ default: ComponentType<P> }>) {
  let loaded: ComponentType<P> | undefined;
  let pending: Promise<{ default: ComponentType<P> }> | undefined;
  const preload = () =>
    (pending ??= load().then(
      (m) => {
        loaded = m.default;
        return m;
      },
      (err: unknown) => {
        pending = undefined; // a failed chunk load may be retried
        throw err;
      },
    ));
  const Lazy = lazy(preload);
  function Component(props: P) {
    return createElement((loaded ?? Lazy) as ComponentType<P>, props);
  }
  return { Component, preload };
}
