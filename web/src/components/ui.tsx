import { useEffect, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { Link } from 'wouter';

export function StatusBadge(props: { status: string }) {
  return <span className={`badge badge-${props.status}`}>{props.status.replace(/_/g, ' ')}</span>;
}

/** "stalled" when the task has waited longer than its limit (Task.stalledSince). */
export function StalledBadge(props: { since: string | null }) {
  if (!props.since) return null;
  return <span className="badge badge-stalled" title={`stalled since ${formatFull(new Date(props.since))}`}>stalled</span>;
}

/** A time as people read it: relative ("5 min ago", "in 2 h"), with the absolute time and
 * its zone on hover; `zone` shows it in that IANA zone (a schedule's own). */
export function Time(props: { at: string | null | undefined; zone?: string; absolute?: boolean }) {
  useTick(15_000);
  if (!props.at) return <span className="muted">—</span>;
  const date = new Date(props.at);
  const full = formatFull(date, props.zone);
  return <time dateTime={props.at} title={full}>{props.absolute ? formatTime(date, props.zone) : relative(date)}</time>;
}

function useTick(ms: number) {
  const [, tick] = useState(0);
  useEffect(() => {
    const t = window.setInterval(() => tick((n) => n + 1), ms);
    return () => window.clearInterval(t);
  }, [ms]);
}

/** "3 Dec 2026, 09:00:00 CET" in the given zone (else the browser's). */
export function formatFull(date: Date, zone?: string): string {
  return date.toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
    second: '2-digit', timeZoneName: 'short', timeZone: zone,
  });
}

export function relative(date: Date): string {
  const s = (date.getTime() - Date.now()) / 1000;
  const a = Math.abs(s);
  const text = a < 45 ? `${Math.round(a)} s` : a < 3600 ? `${Math.round(a / 60)} min`
    : a < 86400 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  if (a < 5) return 'just now';
  return s < 0 ? `${text} ago` : `in ${text}`;
}

export function formatTime(date: Date, zone?: string): string {
  const sameDay = date.toLocaleDateString(undefined, { timeZone: zone }) === new Date().toLocaleDateString(undefined, { timeZone: zone });
  return sameDay
    ? date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', timeZoneName: 'short', timeZone: zone })
    : date.toLocaleString(undefined, {
      year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
      timeZoneName: 'short', timeZone: zone,
    });
}

/** ISO times in free text (status reasons, notes) said as local times, without microseconds. */
export function humanizeTimes(text: string): string {
  return text.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?/g, (iso) => {
    const date = new Date(/Z|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
    return Number.isNaN(date.getTime()) ? iso : formatTime(date);
  });
}

/** A small "Copy" button: puts `text` on the clipboard and says so. */
export function Copy(props: { text: string; what?: string }) {
  const [done, setDone] = useState<boolean | null>(null);
  async function copy() {
    try {
      await navigator.clipboard.writeText(props.text);
      setDone(true);
    } catch {
      setDone(false);
    }
    window.setTimeout(() => setDone(null), 1500);
  }
  return (
    <button type="button" className="copy" onClick={() => void copy()}
      title={props.what ? `Copy ${props.what}` : 'Copy'}>
      Copy<span className="sr-only" aria-live="polite">{done === true ? ' — copied' : done === false ? ' — could not copy' : ''}</span>
      {done === true ? <span aria-hidden="true"> ✓</span> : null}
    </button>
  );
}

/** An id in monospace with its Copy button. */
export function Id(props: { id: string }) {
  return <span className="id"><code>{props.id}</code><Copy text={props.id} what="id" /></span>;
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function Json(props: { value: unknown; label?: string }) {
  return (
    <pre className="json" aria-label={props.label} tabIndex={0}>
      {JSON.stringify(props.value, null, 2) ?? 'null'}
    </pre>
  );
}

/** JSON that folds away, with "Copy". */
export function JsonBlock(props: { value: unknown; label: string; open?: boolean }) {
  const text = JSON.stringify(props.value, null, 2) ?? 'null';
  return (
    <details className="json-block" open={props.open ?? true}>
      <summary>{props.label}</summary>
      <div className="json-tools"><Copy text={text} what={props.label} /></div>
      <Json value={props.value} label={props.label} />
    </details>
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

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** An in-page dialog: aria-modal, focus kept inside (Tab wraps), Escape closes, focus goes
 * back where it was. */
export function Modal(props: { label: string; onClose: () => void; children: ReactNode; className?: string }) {
  const box = useRef<HTMLDivElement>(null);
  const onClose = useRef(props.onClose);
  onClose.current = props.onClose;
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    const el = box.current;
    const first = el?.querySelector<HTMLElement>('[data-autofocus]') ?? el?.querySelector<HTMLElement>(FOCUSABLE);
    first?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') { e.stopPropagation(); onClose.current(); return; }
      if (e.key !== 'Tab' || !el) return;
      const items = [...el.querySelectorAll<HTMLElement>(FOCUSABLE)];
      if (!items.length) { e.preventDefault(); return; }
      const [head, tail] = [items[0], items[items.length - 1]];
      if (e.shiftKey && (document.activeElement === head || !el.contains(document.activeElement))) {
        e.preventDefault(); tail.focus();
      } else if (!e.shiftKey && (document.activeElement === tail || !el.contains(document.activeElement))) {
        e.preventDefault(); head.focus();
      }
    };
    document.addEventListener('keydown', onKey, true);
    return () => { document.removeEventListener('keydown', onKey, true); before?.focus?.(); };
  }, []);
  return (
    <div className="modal-backdrop" onClick={props.onClose}>
      <div ref={box} className={`modal ${props.className ?? ''}`} role="dialog" aria-modal="true" aria-label={props.label}
        onClick={(e) => e.stopPropagation()}>
        <button type="button" className="modal-close" aria-label="Close" onClick={props.onClose}>×</button>
        {props.children}
      </div>
    </div>
  );
}

/** "Are you sure?" in the page: says what will happen; the confirming button is "Confirm". */
export function Confirm(props: { title: string; children: ReactNode; onConfirm: () => void; onCancel: () => void; danger?: boolean }) {
  return (
    <Modal label={props.title} onClose={props.onCancel} className="confirm">
      <h2>{props.title}</h2>
      <div className="confirm-body">{props.children}</div>
      <div className="button-row">
        <button type="button" className={props.danger ? 'primary danger-fill' : 'primary'} data-autofocus onClick={props.onConfirm}>Confirm</button>
        <button type="button" onClick={props.onCancel}>Go back</button>
      </div>
    </Modal>
  );
}

export function Spinner() {
  return <span className="spinner" aria-label="Loading" />;
}

/** A time that is a short time ago (kept for the pages that show ages). */
export function Ago(props: { at: string | null }) {
  return <Time at={props.at} />;
}

/** A task's tags; each links to the task list filtered by it. */
export function Tags(props: { tags: string[] }) {
  return (
    <ul className="tags">
      {props.tags.map((tag) => <li key={tag}><Link className="tag" href={`/tasks?tags=${encodeURIComponent(tag)}`}
        title={`Tasks tagged ${tag}`}>{tag}</Link></li>)}
    </ul>
  );
}
