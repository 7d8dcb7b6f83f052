// Audit entries (audit.list) as a table; the detail in words: "field: before → after".
import { Link } from 'wouter';
import type { AuditEntry, JsonValue } from '../errands';
import { formatTime, Time } from './ui';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

const short = (v: JsonValue | undefined): string => {
  const text = typeof v === 'string' ? (ISO.test(v) ? formatTime(new Date(v)) : v) : JSON.stringify(v ?? null);
  return text.length > 160 ? `${text.slice(0, 157)}…` : text;
};

/** One line per fact of an entry's detail; changed fields as "name: before → after". */
export function detailLines(detail: Record<string, JsonValue>): string[] {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(detail)) {
    if (value === null) continue;
    if (key === 'changed' && typeof value === 'object' && !Array.isArray(value)) {
      for (const [field, change] of Object.entries(value)) {
        const { from, to } = (change ?? {}) as { from?: JsonValue; to?: JsonValue };
        if (from && to && typeof from === 'object' && typeof to === 'object' && !Array.isArray(from) && !Array.isArray(to)) {
          const keys = new Set([...Object.keys(from), ...Object.keys(to)]);
          for (const k of keys) {
            if (JSON.stringify(from[k]) !== JSON.stringify(to[k])) lines.push(`${field}.${k}: ${short(from[k])} → ${short(to[k])}`);
          }
        } else {
          lines.push(`${field}: ${short(from)} → ${short(to)}`);
        }
      }
      continue;
    }
    lines.push(`${key}: ${short(value)}`);
  }
  return lines;
}

export function targetHref(entry: AuditEntry): string | null {
  if (!entry.targetId) return null;
  if (entry.targetType === 'task') return `/tasks/${entry.targetId}`;
  if (entry.targetType === 'schedule') return '/schedules';
  if (entry.targetType === 'webhook') return '/webhooks';
  return null;
}

export function AuditTable(props: { entries: AuditEntry[]; showTarget?: boolean }) {
  const showTarget = props.showTarget ?? true;
  return (
    <div className="table-wrap">
      <table className="table compact audit">
        <thead>
          <tr><th>When</th><th>Who</th><th>Action</th>{showTarget ? <th>Target</th> : null}<th>Detail</th></tr>
        </thead>
        <tbody>
          {props.entries.map((e) => {
            const href = targetHref(e);
            const lines = detailLines(e.detail);
            return (
              <tr key={e.id} data-audit-id={e.id}>
                <td className="nowrap"><Time at={e.at} /></td>
                <td className="nowrap">{e.actor}{e.role ? <span className="muted small"> · {e.role}</span> : null}</td>
                <td><code>{e.action}</code></td>
                {showTarget ? (
                  <td className="nowrap">
                    <span className="muted small">{e.targetType} </span>
                    {e.targetId ? (href ? <Link href={href}><code>{e.targetId}</code></Link> : <code>{e.targetId}</code>) : null}
                  </td>
                ) : null}
                <td className="audit-detail">
                  {lines.length ? lines.map((line, i) => <div key={i}>{line}</div>) : <span className="muted">—</span>}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
