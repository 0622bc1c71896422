// What each benchmark section hands to the report: per tool, one statistic per metric.
import type { Stat } from './lib.js';

export interface MetricDef {
  key: string;
  label: string;
  /** Decimal places in tables. */
  digits: number;
  /** Smaller is better (times, CPU, memory); else larger is better (throughput). */
  lowerIsBetter: boolean;
  /** Shown in the summary of ratios and in the chart. */
  headline?: boolean;
}

export interface ToolResult {
  label: string;
  /** Our tool (the first of a section), or a peer. */
  ours: boolean;
  metrics: Record<string, Stat | undefined>;
  /** Set when the tool could not run at all here (its own error message). */
  error?: string;
  /** Runs that failed while others succeeded (their figures are left out of the medians). */
  notes?: string[];
}

export interface SectionResult {
  id: string;
  title: string;
  /** One paragraph: the workload and how it was driven. */
  workload: string;
  metrics: MetricDef[];
  tools: ToolResult[];
  /** Further markdown (agreement tables, notes), printed after the main table. */
  extra: string[];
  /** Checks against the project's targets. */
  targets: TargetCheck[];
}

export interface TargetCheck {
  what: string;
  target: string;
  measured: string;
  met: boolean | undefined;
}
