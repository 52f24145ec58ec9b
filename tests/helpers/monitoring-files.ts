import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { promqlMetricNames } from './promql-metric-names.js';

export const infraDir = join(import.meta.dirname, '../../infra');

export interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Array<{ expr?: string; datasource?: { type?: string; uid?: string } }>;
  panels?: DashboardPanel[];
}

export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  templating: { list: Array<{ name: string; type: string; query?: string }> };
  panels: DashboardPanel[];
}

/** `infra/prometheus/alerts.yaml`'s rules, every group's in order. */
export function alertRules(): AlertRule[] {
  const file = parse(readFileSync(join(infraDir, 'prometheus/alerts.yaml'), 'utf8')) as {
    groups: Array<{ name: string; rules: AlertRule[] }>;
  };
  return file.groups.flatMap((group) => group.rules);
}

/** `infra/grafana/quiver.json`. */
export function dashboard(): Dashboard {
  return JSON.parse(readFileSync(join(infraDir, 'grafana/quiver.json'), 'utf8')) as Dashboard;
}

/** Every panel of the board, those inside collapsed rows included. */
export function dashboardPanels(board: Dashboard = dashboard()): DashboardPanel[] {
  return board.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
}

/** Every PromQL expression of the alerts and the board, with where it is (`alert X`, `panel "Y"`). */
export function monitoringQueries(): Array<{ where: string; expr: string }> {
  return [
    ...alertRules().map((rule) => ({ where: `alert ${rule.alert ?? rule.record}`, expr: rule.expr })),
    ...dashboardPanels().flatMap((panel) =>
      (panel.targets ?? []).flatMap((target) =>
        target.expr === undefined ? [] : [{ where: `panel "${panel.title}"`, expr: target.expr }],
      ),
    ),
  ];
}

/** The metric names the alerts and the board read (as written: `_bucket` kept), each with where. */
export function monitoredMetricNames(): Map<string, string[]> {
  const names = new Map<string, string[]>();
  for (const { where, expr } of monitoringQueries())
    for (const name of promqlMetricNames(expr)) names.set(name, [...(names.get(name) ?? []), where]);
  return names;
}
