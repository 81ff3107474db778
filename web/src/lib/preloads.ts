/** The large code-split components, shared by their pages and the idle-time preload (router.tsx). */
import { preloadable } from "./lazy";

export const usageChart = preloadable(() => import("@/components/usage-chart"));
export const scalarReference = preloadable(() => import("@/components/scalar-reference"));
