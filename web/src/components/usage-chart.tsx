/**
 * Spend over time, one line per group (top five, the rest summed): uPlot, loaded with the
 * overview only. Colours follow the theme's chart tokens.
 */
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Series {
  label: string;
  values: number[];
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

export default function UsageChart({ times, series, yLabel, format }: { times: number[]; series: Series[]; yLabel: string; format: (v: number) => string }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const axis = { stroke: cssVar("--muted-foreground"), grid: { stroke: cssVar("--border"), width: 1 }, ticks: { stroke: cssVar("--border"), width: 1 } };
    const plot = new uPlot(
      {
        width: el.clientWidth,
        height: 260,
        cursor: { drag: { x: false, y: false } },
        legend: { show: true },
        scales: { x: { time: true } },
        axes: [axis, { ...axis, label: yLabel, size: 70, values: (_u, ticks) => ticks.map(format) }],
        series: [
          {},
          ...series.map((s, i) => ({
            label: s.label,
            stroke: cssVar(`--chart-${(i % 5) + 1}`),
            fill: i === 0 ? `color-mix(in oklch, ${cssVar("--chart-1")} 12%, transparent)` : undefined,
            width: 2,
            points: { show: times.length < 40 },
            value: (_u: uPlot, v: number | null) => (v === null ? "—" : format(v)),
          })),
        ],
      },
      [times, ...series.map((s) => s.values)],
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: el.clientWidth, height: 260 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [times, series, yLabel, format]);
  return <div ref={host} role="img" aria-label={`${yLabel} over time, by ${series.map((s) => s.label).join(", ")}`} className="uplot-host w-full" />;
}
