"use client";

import "uplot/dist/uPlot.min.css";
import { useEffect, useRef, useState } from "react";
import { createPortal } from "react-dom";
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import type uPlot from "uplot";
import { formatBytes, formatTime } from "@/components/ui/format";
import type { ChartFlag, SizeChartData } from "@/lib/backups/series";
import { drillOverviewQuery, seriesQuery } from "./queries";

const DRILL_COLORS: Record<string, string> = { verified: "#059669", running: "#2563eb", queued: "#94a3b8" };

/** Restore-drill results as a row of dots along the bottom of the plot (canvas: thousands of sets stay cheap). */
function drawDrills(u: uPlot, data: SizeChartData, drills: ReadonlyMap<string, string>): void {
  if (!drills.size) return;
  const ctx = u.ctx;
  const r = 3 * devicePixelRatio;
  const y = u.bbox.top + u.bbox.height - r - 2 * devicePixelRatio;
  ctx.save();
  data.setIds.forEach((id, i) => {
    const state = drills.get(id);
    const color = state && DRILL_COLORS[state];
    if (!color) return;
    const x = u.valToPos(data.times[i], "x", true);
    if (x < u.bbox.left - r || x > u.bbox.left + u.bbox.width + r) return;
    ctx.beginPath();
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fillStyle = color;
    ctx.fill();
  });
  ctx.restore();
}

/** Failed drills, placed on the strip as links (few, and each worth opening). */
function placeFailedDrills(u: uPlot, data: SizeChartData, drills: ReadonlyMap<string, string>): { left: number; top: number; setId: string; time: number }[] {
  const out: { left: number; top: number; setId: string; time: number }[] = [];
  const top = u.over.clientHeight - 5;
  data.setIds.forEach((id, i) => {
    if (drills.get(id) !== "failed") return;
    const left = u.valToPos(data.times[i], "x");
    if (left >= -2 && left <= u.over.clientWidth + 2) out.push({ left, top, setId: id, time: data.times[i] });
  });
  return out;
}

const COLORS: Record<string, string> = {
  "file-archive": "#1d4ed8",
  logical: "#0f766e",
  "lifeboat-logical": "#7c3aed",
  "lifeboat-files": "#c2410c",
  "lifeboat-token": "#64748b",
  "lifeboat-secrets": "#0891b2",
};
/** The overlay of database statistics: counts on a second (log) axis, dashed so they never pass for sizes. */
const STAT_SERIES = [
  { key: "rows", label: "Rows", stroke: "#475569", dash: [6, 4] },
  { key: "liveKeys", label: "Live keys", stroke: "#b45309", dash: [2, 3] },
  { key: "compactionLag", label: "Compaction lag", stroke: "#dc2626", dash: [10, 3, 2, 3] },
] as const;

/** The statistics columns as a log axis can draw them (no zero), or null when no set has statistics. */
function statisticsColumns(data: SizeChartData): (number | null)[][] | null {
  const st = data.statistics;
  if (!st || !st.rows.some((v) => v !== null)) return null;
  return STAT_SERIES.map((s) => st[s.key].map((v) => (v === null || v <= 0 ? null : v)));
}

const TYPE_WORDS: Record<ChartFlag["type"], string> = { growth: "growth", shrink: "shrink", gap: "gap before this backup", stale: "no backup since" };

interface Marker {
  left: number;
  top: number;
  flag: ChartFlag;
  setId: string;
  time: number;
}

/** Where each flagged point sits on the plot, in CSS pixels of uPlot's overlay; off-scale points are left out. */
function placeMarkers(u: uPlot, data: SizeChartData): Marker[] {
  const width = u.over.clientWidth;
  const height = u.over.clientHeight;
  // Several anomalies on one point (growth of both kinds, say) make one marker: the worst.
  const seen = new Map<string, Marker>();
  for (const flag of data.flags) {
    const series = flag.kind === "set" ? data.series.find((s) => s.sizes[flag.index] !== null) : data.series.find((s) => s.kind === flag.kind);
    const value = series?.sizes[flag.index];
    if (value === null || value === undefined) continue;
    const left = u.valToPos(data.times[flag.index], "x");
    const top = u.valToPos(value, "y");
    if (!(left >= -2 && left <= width + 2 && top >= -2 && top <= height + 2)) continue;
    const key = `${flag.index}:${series!.kind}`;
    const prev = seen.get(key);
    if (prev && (prev.flag.level === "critical" || flag.level !== "critical")) continue;
    seen.set(key, { left, top, flag, setId: data.setIds[flag.index], time: data.times[flag.index] });
  }
  return [...seen.values()];
}

/**
 * The time axis's labels in UTC and 24-hour ISO order, as every date on the pages is written
 * (uPlot's default is the browser's zone with "9/14" and "12pm"). Rows: the smallest tick step (s),
 * its label, then what is added below the first tick of a new year, month, day, hour, minute.
 */
const TIME_TICKS: uPlot.Axis.Values = [
  [86_400 * 365, "{YYYY}", null, null, null, null, null, null, 1],
  [86_400 * 28, "{MMM}", "\n{YYYY}", null, null, null, null, null, 1],
  [86_400, "{MM}-{DD}", "\n{YYYY}", null, null, null, null, null, 1],
  [3600, "{HH}:{mm}", "\n{YYYY}-{MM}-{DD}", null, "\n{MM}-{DD}", null, null, null, 1],
  [60, "{HH}:{mm}", "\n{YYYY}-{MM}-{DD}", null, "\n{MM}-{DD}", null, null, null, 1],
  [1, ":{ss}", "\n{YYYY}-{MM}-{DD} {HH}:{mm}", null, "\n{MM}-{DD} {HH}:{mm}", null, "\n{HH}:{mm}", null, 1],
];

/**
 * The size trend: one line per object kind, time on the x axis (uPlot: canvas, ~50 KB, draws 10,000
 * points at once). Flagged points carry a marker that links to that backup's page. A toggle lays the
 * database statistics of the sets that have them (rows, live keys, compaction lag) over it on a
 * second axis, so a compaction lag that climbs shows before the size does.
 */
export function SizeChart() {
  const { data, error, isPending } = useQuery(seriesQuery());
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [markers, setMarkers] = useState<Marker[]>([]);
  const drillsQ = useQuery(drillOverviewQuery());
  const drills = useRef<Map<string, string>>(new Map());
  const [failedDrills, setFailedDrills] = useState<ReturnType<typeof placeFailedDrills>>([]);
  useEffect(() => {
    drills.current = new Map((drillsQ.data?.drills ?? []).map((d) => [d.setId, d.state]));
    plot.current?.redraw(false, false);
  }, [drillsQ.data]);
  const [over, setOver] = useState<HTMLElement | null>(null);
  const [overlay, setOverlay] = useState(false);
  const stats = data ? statisticsColumns(data) : null;
  const showStats = overlay && stats !== null;

  useEffect(() => {
    if (!data || !box.current || data.times.length === 0) return;
    let disposed = false;
    let observer: ResizeObserver | undefined;
    void import("uplot").then(({ default: UPlot }) => {
      if (disposed || !box.current) return;
      const el = box.current;
      const extra = showStats ? statisticsColumns(data)! : [];
      const opts: uPlot.Options = {
        width: el.clientWidth,
        height: 300,
        // Ticks fall on UTC days and hours, labelled with TIME_TICKS.
        tzDate: (ts) => UPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
        scales: {
          // One backup (or several in the same second) is an empty time range; uPlot widens it to
          // 1000 days after the point (86400 / its `ms` of 1e-3), drawing the point on the edge of
          // an axis of future years. Show a day around it instead.
          x: {
            time: true,
            range: (_u, min, max) => {
              const [first, last] = [data.times[0], data.times[data.times.length - 1]];
              return first === last ? [first - 43_200, last + 43_200] : [min, max];
            },
          },
          y: { range: (_u, _min, max) => [0, max * 1.08 || 1] },
          // Whole decades with room below the smallest count, so no line hugs the drill dots along the bottom.
          count: {
            distr: 3,
            log: 10,
            range: (_u, min, max) => [10 ** Math.floor(Math.log10(Math.max(1, min)) - 0.3), 10 ** Math.ceil(Math.log10(Math.max(10, max)) + 0.1)],
          },
        },
        series: [
          { value: (_u, v) => (v === null ? "—" : formatTime(new Date(v * 1000))) },
          ...data.series.map((s) => ({
            label: s.label,
            stroke: COLORS[s.kind] ?? "#334155",
            width: 1.5,
            points: { show: data.times.length <= 120, size: data.times.length <= 10 ? 7 : 4 },
            value: (_u: uPlot, v: number | null) => (v === null ? "—" : formatBytes(v)),
          })),
          ...(showStats
            ? STAT_SERIES.map((s) => ({
                label: s.label,
                scale: "count",
                stroke: s.stroke,
                dash: [...s.dash],
                width: s.key === "compactionLag" ? 2 : 1.5,
                spanGaps: true,
                points: { show: true, size: 5, stroke: s.stroke, fill: "#fff" },
                value: (_u: uPlot, v: number | null) => (v === null ? "—" : v.toLocaleString("en-US")),
              }))
            : []),
        ],
        axes: [
          { values: TIME_TICKS },
          { size: 72, values: (_u, ticks) => ticks.map((t) => formatBytes(t)) },
          ...(showStats
            ? [
                {
                  scale: "count",
                  side: 1,
                  size: 64,
                  grid: { show: false },
                  // A log axis passes null for the ticks it leaves unlabelled.
                  values: (_u: uPlot, ticks: (number | null)[]) => ticks.map((t) => (t === null ? "" : t >= 1000 ? `${t / 1000}k` : String(t))),
                },
              ]
            : []),
        ],
        cursor: { drag: { x: true, y: false } },
        hooks: {
          draw: [
            (u) => {
              // The time window drawn, in seconds (browser tests check that every backup is in it).
              el.dataset.xMin = String(u.scales.x.min);
              el.dataset.xMax = String(u.scales.x.max);
              drawDrills(u, data, drills.current);
              setMarkers(placeMarkers(u, data));
              setFailedDrills(placeFailedDrills(u, data, drills.current));
            },
          ],
        },
      };
      const u = new UPlot(opts, [data.times, ...data.series.map((s) => s.sizes), ...extra] as uPlot.AlignedData, el);
      plot.current = u;
      setOver(u.over);
      observer = new ResizeObserver(() => u.setSize({ width: el.clientWidth, height: 300 }));
      observer.observe(el);
    });
    return () => {
      disposed = true;
      observer?.disconnect();
      plot.current?.destroy();
      plot.current = null;
      setOver(null);
      setMarkers([]);
      setFailedDrills([]);
    };
  }, [data, showStats]);

  if (isPending) return <div className="h-[300px] animate-pulse rounded bg-slate-100" aria-label="Loading the size trend" />;
  if (error) return <p className="text-sm text-red-800">The size trend could not be loaded: {error.message}</p>;
  if (!data.times.length) return <p className="py-6 text-center text-sm text-slate-500">No backup sets yet: the trend appears with the first one.</p>;
  const withStats = data.statistics?.rows.filter((v) => v !== null).length ?? 0;
  return (
    <figure>
      <div className="mb-2 flex flex-wrap items-center justify-end gap-x-3 gap-y-1 text-xs text-slate-600">
        {stats ? (
          <label className="flex cursor-pointer items-center gap-1.5">
            <input type="checkbox" checked={overlay} onChange={(e) => setOverlay(e.target.checked)} data-testid="chart-statistics-toggle" />
            Show rows, live keys and compaction lag ({withStats} of {data.times.length} sets have statistics)
          </label>
        ) : (
          <span title="Lifeboat sets carry them in their manifest; seed sets get them from a restore drill.">
            No database statistics yet: they come from manifests and restore drills.
          </span>
        )}
      </div>
      <div ref={box} className="w-full" data-testid="size-chart" data-overlay={showStats ? "statistics" : "none"} />
      {over &&
        createPortal(
          <>
            {markers.map((m) => (
              <Link
                key={`${m.setId}:${m.flag.kind}:${m.flag.type}`}
                href={`/backups/${m.setId}`}
                data-testid="chart-flag"
                data-level={m.flag.level}
                aria-label={`${m.flag.level === "critical" ? "Critical" : "Warning"}: ${TYPE_WORDS[m.flag.type]} on ${formatTime(new Date(m.time * 1000))}. Open this backup.`}
                title={m.flag.reason}
                className={`absolute z-10 -translate-x-1/2 -translate-y-1/2 rounded-full border-2 border-white shadow ring-1 hover:scale-125 focus:outline-none focus-visible:ring-4 ${
                  m.flag.level === "critical" ? "h-4 w-4 bg-red-600 ring-red-800" : "h-3.5 w-3.5 bg-amber-400 ring-amber-700"
                }`}
                style={{ left: m.left, top: m.top }}
              />
            ))}
            {failedDrills.map((m) => (
              <Link
                key={`drill:${m.setId}`}
                href={`/backups/${m.setId}`}
                data-testid="chart-drill-failed"
                aria-label={`Restore drill failed for the backup of ${formatTime(new Date(m.time * 1000))}. Open this backup.`}
                title="Restore drill failed: open this backup to see why"
                className="absolute z-10 -translate-x-1/2 -translate-y-1/2 text-sm font-bold leading-none text-red-700 hover:scale-125"
                style={{ left: m.left, top: m.top }}
              >
                ✕
              </Link>
            ))}
          </>,
          over,
        )}
      <figcaption className="mt-2 flex flex-wrap items-center gap-x-4 gap-y-1 text-xs text-slate-600">
        <span className="flex items-center gap-1">
          <span aria-hidden className="inline-block h-3 w-3 rounded-full border-2 border-white bg-red-600 ring-1 ring-red-800" /> critical
        </span>
        <span className="flex items-center gap-1">
          <span aria-hidden className="inline-block h-3 w-3 rounded-full border-2 border-white bg-amber-400 ring-1 ring-amber-700" /> warning
        </span>
        <span className="flex items-center gap-1">
          <span aria-hidden className="inline-block h-2 w-2 rounded-full bg-emerald-600" /> restore drill passed
        </span>
        <span className="flex items-center gap-1">
          <span aria-hidden className="font-bold text-red-700">
            ✕
          </span>{" "}
          drill failed
        </span>
        {showStats && (
          <span className="flex items-center gap-1">
            <span aria-hidden className="inline-block w-5 border-t-2 border-dashed border-red-600" /> dashed: counts on the right axis (log scale)
          </span>
        )}
        <span>Click a marked point to open that backup. Drag to zoom, double-click to zoom out.</span>
      </figcaption>
    </figure>
  );
}
