export interface SessionRow {
  id: string;
  branch: string;
  startedAt: number;
  files: number;
}

export const formatDuration = (ms: number): string => `${Math.round(ms / 60000)} min`;
export const formatIdle = (ms: number): string => (ms < 60000 ? "active" : `idle ${formatDuration(ms)}`);

export function renderRow(row: SessionRow, now: number): string {
  const age = formatDuration(now - row.startedAt);
  return `${row.id.padEnd(10)} ${row.branch.padEnd(24)} ${String(row.files).padStart(4)}  ${age}`;
}

export function renderTable(rows: SessionRow[], now: number = Date.now()): string {
  if (rows.length === 0) {
    return "no active sessions";
  }
  const header = `${"SESSION".padEnd(10)} ${"BRANCH".padEnd(24)} FILES  AGE`;
  return [header, ...rows.map((row) => renderRow(row, now))].join("\n");
}
