import { useEffect, useState } from 'react';
import type { ReactNode } from 'react';

export function StatusBadge(props: { status: string }) {
  return <span className={`badge badge-${props.status}`}>{props.status.replace(/_/g, ' ')}</span>;
}

/** "stalled" when the task has waited longer than its limit (Task.stalledSince). */
export function StalledBadge(props: { since: string | null }) {
  if (!props.since) return null;
  return <span className="badge badge-stalled" title={`stalled since ${new Date(props.since).toLocaleString()}`}>stalled</span>;
}

export function Time(props: { at: string | null | undefined }) {
  if (!props.at) return <span className="muted">—</span>;
  const date = new Date(props.at);
  return <time dateTime={props.at} title={props.at}>{formatTime(date)}</time>;
}

export function formatTime(date: Date): string {
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay
    ? date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })
    : date.toLocaleString(undefined, {
      year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
    });
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function Json(props: { value: unknown; label?: string }) {
  return (
    <pre className="json" aria-label={props.label}>
      {JSON.stringify(props.value, null, 2) ?? 'null'}
    </pre>
  );
}

export function Alert(props: { children: ReactNode; kind?: 'error' | 'info' | 'success' }) {
  const kind = props.kind ?? 'error';
  return <div className={`alert alert-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
    {props.children}
  </div>;
}

export function PageHeader(props: { title: string; children?: ReactNode; sub?: ReactNode }) {
  return (
    <header className="page-header">
      <div>
        <h1>{props.title}</h1>
        {props.sub ? <p className="muted">{props.sub}</p> : null}
      </div>
      <div className="page-actions">{props.children}</div>
    </header>
  );
}

export function Empty(props: { children: ReactNode }) {
  return <div className="empty">{props.children}</div>;
}

export function FieldError(props: { error?: string }) {
  return props.error ? <div className="field-error" role="alert">{props.error}</div> : null;
}

export function Modal(props: { label: string; onClose: () => void; children: ReactNode }) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => { if (e.key === 'Escape') props.onClose(); };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [props]);
  return (
    <div className="modal-backdrop" onClick={props.onClose}>
      <div className="modal" role="dialog" aria-label={props.label} onClick={(e) => e.stopPropagation()}>
        <button type="button" className="modal-close" aria-label="Close" onClick={props.onClose}>×</button>
        {props.children}
      </div>
    </div>
  );
}

export function Spinner() {
  return <span className="spinner" aria-label="Loading" />;
}

/** A value that is a short time ago, refreshed every few seconds. */
export function Ago(props: { at: string | null }) {
  const [, tick] = useState(0);
  useEffect(() => {
    const t = window.setInterval(() => tick((n) => n + 1), 5000);
    return () => window.clearInterval(t);
  }, []);
  if (!props.at) return <span className="muted">—</span>;
  const s = Math.max(0, (Date.now() - new Date(props.at).getTime()) / 1000);
  const text = s < 60 ? `${Math.round(s)} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago`
    : s < 86400 ? `${Math.round(s / 3600)} h ago` : `${Math.round(s / 86400)} d ago`;
  return <time dateTime={props.at} title={props.at}>{text}</time>;
}
