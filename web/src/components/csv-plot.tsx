import { useEffect, useId, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { CsvTable } from '../csv';

/**
 * Line colours, in order: distinguishable with the common colour-vision deficiencies
 * (Okabe and Ito's palette), each with at least 3:1 contrast against white.
 */
const seriesColours = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#8a6d00', '#56b4e9'];

/** At most this many lines are drawn at once (the choices stay open for all). */
const maxSeries = seriesColours.length;

/** Props of {@link CsvPlot}. */
export interface CsvPlotProps {
  table: CsvTable;
  /** Names the plot for screen readers: "Plot of profile.csv". */
  title: string;
  /** Points only, no lines: for rows that are separate runs (a sweep's experiments), not a curve. */
  scatter?: boolean;
}

/**
 * A line plot of a CSV's numeric columns (uPlot, on a canvas): x is the first numeric
 * column unless the user picks another, y every other numeric column (up to six) unless the
 * user unticks some. Rows are drawn in the order of x. The table beside it is the plot's
 * text alternative.
 */
export function CsvPlot({ table, title, scatter = false }: CsvPlotProps) {
  const numericColumns = table.header.map((_, column) => column).filter((column) => table.numeric[column]);
  const [xColumn, setXColumn] = useState(numericColumns[0] ?? -1);
  const [hidden, setHidden] = useState<number[]>([]);
  const yColumns = numericColumns.filter((column) => column !== xColumn);
  const shown = yColumns.filter((column) => !hidden.includes(column)).slice(0, maxSeries);
  const holder = useRef<HTMLDivElement>(null);
  const id = useId();

  useEffect(() => {
    const element = holder.current;
    if (!element || xColumn < 0 || shown.length === 0) return;
    const points = table.rows
      .map((row) => [Number(row[xColumn]), ...shown.map((column) => cellNumber(row[column]))] as const)
      .filter((point) => Number.isFinite(point[0]))
      .sort((a, b) => a[0] - b[0]);
    const data: uPlot.AlignedData = [
      points.map((point) => point[0]),
      ...shown.map((_, index) => points.map((point) => point[index + 1])),
    ];
    const text = getComputedStyle(element).color;
    const axis = { stroke: text, grid: { stroke: 'rgba(128, 128, 128, 0.25)' }, ticks: { stroke: text } };
    const plot = new uPlot(
      {
        width: Math.max(240, element.clientWidth),
        height: 280,
        scales: {
          x: {
            time: false,
            // Points only: a little room on both sides, so that every point of a repeated
            // first or last x is in the drawn window (uPlot cuts it at the closest index).
            ...(scatter
              ? {
                  range: (_: uPlot, min: number, max: number) =>
                    [min - ((max - min) * 0.03 || 1), max + ((max - min) * 0.03 || 1)] as uPlot.Range.MinMax,
                }
              : {}),
          },
        },
        legend: { show: false },
        cursor: { drag: { x: true, y: false } },
        axes: [
          { ...axis, label: table.header[xColumn] },
          { ...axis, label: shown.length === 1 ? table.header[shown[0]] : undefined },
        ],
        series: [
          { label: table.header[xColumn] },
          ...shown.map((column) => ({
            label: table.header[column],
            stroke: seriesColours[yColumns.indexOf(column) % seriesColours.length],
            width: 2,
            points: { show: scatter || points.length <= 60, size: scatter ? 8 : undefined },
            ...(scatter ? { paths: () => null } : {}),
          })),
        ],
      },
      data,
      element,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(240, element.clientWidth), height: 280 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
    // shown is derived from these; as an array it is a new one on every render.
    // eslint-disable-next-line react-hooks/exhaustive-deps -- keyed by content
  }, [table, xColumn, shown.join(','), scatter]);

  if (numericColumns.length < 2) return <p className="hint">No two numeric columns to plot.</p>;
  const description = `Plot of ${shown.map((column) => table.header[column]).join(', ') || 'no column'} against ${table.header[xColumn]}`;
  return (
    <figure className="csv-plot">
      <div className="plot-controls">
        <div className="field">
          <label htmlFor={`${id}-x`}>x axis</label>
          <select
            id={`${id}-x`}
            value={xColumn}
            onChange={(event) => {
              setXColumn(Number(event.target.value));
              setHidden([]);
            }}
          >
            {numericColumns.map((column) => (
              <option key={column} value={column}>
                {table.header[column]}
              </option>
            ))}
          </select>
        </div>
        <fieldset className="plot-series">
          <legend>Columns plotted</legend>
          {yColumns.map((column) => {
            const checked = shown.includes(column);
            return (
              <label key={column} className="checkbox">
                <input
                  type="checkbox"
                  checked={checked}
                  disabled={!checked && shown.length >= maxSeries}
                  onChange={() =>
                    setHidden((current) =>
                      checked ? [...current, column] : current.filter((other) => other !== column),
                    )
                  }
                />
                {/* React sets style through CSSOM, which the page's style-src allows. */}
                <span
                  className="swatch"
                  aria-hidden="true"
                  style={{ background: seriesColours[yColumns.indexOf(column) % seriesColours.length] }}
                />
                {table.header[column]}
              </label>
            );
          })}
        </fieldset>
      </div>
      <div ref={holder} className="plot-canvas" role="img" aria-label={`${title}: ${description}`} />
      <figcaption className="visually-hidden">{description}</figcaption>
    </figure>
  );
}

/** A cell as a number for the plot: null (a gap) when empty or not a number. */
function cellNumber(cell: string): number | null {
  if (cell.trim() === '') return null;
  const value = Number(cell);
  return Number.isFinite(value) ? value : null;
}
