import { useEffect, useState } from 'react';
import type { ReactNode } from 'react';
import { Link } from 'wouter';
import type { BulkItem, Task } from '../errands';
import { useAction, useDebounced, useLoad } from '../hooks';
import { latest, TYPE_LABELS } from '../labels';
import { useFreshest, useSession, useTaskEvents } from '../session';
import { TaskActions } from '../components/TaskActions';
import { Ago, Alert, Confirm, Empty, Json, PageHeader, Spinner, StalledBadge, StatusBadge } from '../components/ui';

const PAGE = 100; // the oldest first; more on demand

export function ReviewQueue() {
  const { client, can } = useSession();
  const queue = useLoad(() => client.tasks.list.query({ status: 'awaiting_review', order: 'oldest', limit: PAGE }),
    [client]);
  const [more, setMore] = useState<string | null>(null); // the cursor of the next page
  const loadMore = useAction();
  const [waiting, setWaiting] = useState<Task[]>([]);
  const [decided, setDecided] = useState<Task[]>([]); // decided here, followed live
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [bulkNotes, setBulkNotes] = useState('');
  const [results, setResults] = useState<{ item: BulkItem; title: string }[] | null>(null);
  const bulk = useAction();
  const freshest = useFreshest();
  const [asking, setAsking] = useState(false);
  const [current, setCurrent] = useState(0);
  // keyboard: j / k move, a approves, r rejects the current task (not while typing)
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (e.ctrlKey || e.metaKey || e.altKey || document.querySelector('[aria-modal="true"]')) return;
      if (target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))) return;
      const item = waiting[current];
      if (e.key === 'j' || e.key === 'k') {
        e.preventDefault();
        const next = Math.max(0, Math.min(waiting.length - 1, current + (e.key === 'j' ? 1 : -1)));
        setCurrent(next);
        document.querySelector(`[data-task-id="${waiting[next]?.id}"]`)?.scrollIntoView({ block: 'nearest' });
      } else if ((e.key === 'a' || e.key === 'r') && item && can('review')) {
        const name = e.key === 'a' ? 'Approve' : 'Reject';
        const button = [...document.querySelectorAll<HTMLButtonElement>(`[data-task-id="${item.id}"] button`)]
          .find((b) => b.textContent === name);
        if (button) { e.preventDefault(); button.click(); }
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [waiting, current, can]);
  useEffect(() => { if (current > 0 && current >= waiting.length) setCurrent(Math.max(0, waiting.length - 1)); }, [waiting, current]);
  useEffect(() => {
    if (queue.data) { setWaiting(queue.data.items); setMore(queue.data.nextCursor); }
  }, [queue.data]);
  async function showMore() {
    if (!more) return;
    const got = await loadMore.run(() => client.tasks.list.query(
      { status: 'awaiting_review', order: 'oldest', limit: PAGE, cursor: more }));
    if (!got) return;
    setWaiting((list) => {
      const have = new Set(list.map((t) => t.id));
      return [...list, ...got.items.filter((t) => !have.has(t.id))];
    });
    setMore(got.nextCursor);
  }
  // a task that leaves the queue (decided here or elsewhere) leaves the selection
  useEffect(() => {
    setSelected((s) => {
      const ids = new Set(waiting.map((t) => t.id));
      const kept = new Set([...s].filter((id) => ids.has(id)));
      return kept.size === s.size ? s : kept;
    });
  }, [waiting]);
  const toggle = (id: string, on: boolean) => setSelected((s) => {
    const next = new Set(s);
    if (on) next.add(id); else next.delete(id);
    return next;
  });
  const allSelected = waiting.length > 0 && waiting.every((t) => selected.has(t.id));
  async function approveSelected() {
    setAsking(false);
    const chosen = waiting.filter((t) => selected.has(t.id));
    const titles = new Map(chosen.map((t) => [t.id, t.title]));
    const answer = await bulk.run(() => client.tasks.approveMany.mutate({
      ids: chosen.map((t) => t.id), notes: bulkNotes || null,
    }));
    if (!answer) return;
    setResults(answer.results.map((item) => ({ item, title: titles.get(item.id) ?? item.id })));
    for (const item of answer.results) if (item.ok && item.task) done(freshest(item.task));
    if (answer.results.some((r) => !r.ok)) queue.reload(); // those refused may have left the queue
    setSelected(new Set());
    setBulkNotes('');
  }
  const reload = useDebounced(queue.reload, 500);
  useTaskEvents((event) => {
    setDecided((list) => list.map((t) => t.id === event.task.id ? latest(t, event.task) : t));
    setResults((list) => list && list.map((r) => r.item.task && r.item.id === event.task.id
      ? { ...r, item: { ...r.item, task: latest(r.item.task, event.task) } } : r));
    if (event.type === 'created' && event.task.status === 'awaiting_review') reload();
    if (event.task.status !== 'awaiting_review') {
      setWaiting((list) => list.filter((t) => t.id !== event.task.id));
    }
  });
  function done(task: Task) {
    setWaiting((list) => list.filter((t) => t.id !== task.id));
    setDecided((list) => {
      return [task, ...list.filter((t) => t.id !== task.id)];
    });
  }
  return (
    <>
      <PageHeader title="Review queue"
        sub={`Tasks awaiting review, oldest first.${can('review') ? '' : ' Your role may look but not decide.'}`}>
        <span className="kbd-help"><kbd>j</kbd>/<kbd>k</kbd> move · <kbd>a</kbd> approve · <kbd>r</kbd> reject</span>
      </PageHeader>
      {queue.error ? <Alert>{queue.error}</Alert> : null}
      {results ? (
        <section className="card" aria-label="Bulk approval results">
          <div className="section-head">
            <h2>Approved together: {results.filter((r) => r.item.ok).length} of {results.length}</h2>
            <button type="button" className="link" onClick={() => setResults(null)}>Dismiss</button>
          </div>
          <table className="table compact">
            <tbody>
              {results.map(({ item, title }) => (
                <tr key={item.id} data-task-id={item.id} className={item.ok ? 'result-ok' : 'result-failed'}>
                  <td><Link href={`/tasks/${item.id}`}>{title}</Link></td>
                  <td>{item.ok ? <span className="ok-mark">approved</span> : <span className="fail-mark">not approved</span>}</td>
                  <td>{item.ok ? (item.task ? <StatusBadge status={item.task.status} /> : null)
                    : <span className="error-line"><code>{item.error?.code}</code> {item.error?.message}</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
      {decided.length ? (
        <section className="card" aria-label="Decided just now">
          <h2>Decided just now</h2>
          <table className="table compact">
            <tbody>
              {decided.map((t) => (
                <tr key={t.id} data-task-id={t.id}>
                  <td><Link href={`/tasks/${t.id}`}>{t.title}</Link></td>
                  <td>{TYPE_LABELS[t.taskType]}</td>
                  <td><StatusBadge status={t.status} /></td>
                  <td className="muted">{t.reviewedBy ? `by ${t.reviewedBy}` : ''}{t.reviewNotes ? ` · “${t.reviewNotes}”` : ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
      {can('review') && waiting.length > 0 ? (
        <section className="card bulk-bar" aria-label="Approve several">
          <label className="check">
            <input type="checkbox" checked={allSelected}
              onChange={(e) => setSelected(e.target.checked ? new Set(waiting.map((t) => t.id)) : new Set())} />
            Select all ({waiting.length})
          </label>
          <input aria-label="Notes for the selected" placeholder="notes for all selected (optional)" value={bulkNotes}
            onChange={(e) => setBulkNotes(e.target.value)} />
          <button type="button" className="primary" disabled={bulk.busy || selected.size === 0}
            onClick={() => setAsking(true)}>
            Approve selected ({selected.size})
          </button>
          {bulk.error ? <Alert>{bulk.error}</Alert> : null}
        </section>
      ) : null}
      {queue.loading && !queue.data ? <div className="center"><Spinner /></div> : null}
      {queue.data && waiting.length === 0 ? <Empty>Nothing is waiting for review.</Empty> : null}
      {asking ? (
        <Confirm title={`Approve ${selected.size} task${selected.size === 1 ? '' : 's'}?`}
          onCancel={() => setAsking(false)} onConfirm={() => void approveSelected()}>
          <p>Approve the {selected.size} selected task{selected.size === 1 ? '' : 's'}{bulkNotes ? ` with the notes “${bulkNotes}”` : ''}: each goes on to run as it is configured.</p>
        </Confirm>
      ) : null}
      <ol className="review-list dense">
        {waiting.map((task, index) => (
          <li key={task.id} className={index === current ? 'card review-item current' : 'card review-item'} data-task-id={task.id}
            onFocus={() => setCurrent(index)}>
            <div className="review-head">
              {can('review') ? <input type="checkbox" className="select-box" aria-label={`Select ${task.title}`}
                checked={selected.has(task.id)} onChange={(e) => toggle(task.id, e.target.checked)} /> : null}
              <h2><Link href={`/tasks/${task.id}`}>{task.title}</Link></h2>
              <StalledBadge since={task.stalledSince} />
              <span className="muted">{TYPE_LABELS[task.taskType]} · {task.priority} priority · waiting since <Ago at={task.createdAt} /></span>
            </div>
            <ConfigSummary task={task} />
            {task.description ? <p className="muted small">{task.description}</p> : null}
            <details>
              <summary>Execution config</summary>
              <Json value={task.executionConfig} label="Execution config" />
            </details>
            <TaskActions task={task} onDone={done} />
          </li>
        ))}
      </ol>
      {more ? (
        <div className="pager">
          <button type="button" disabled={loadMore.busy} onClick={() => void showMore()}>
            Show the next {PAGE}
          </button>
          {loadMore.error ? <Alert>{loadMore.error}</Alert> : null}
        </div>
      ) : null}
    </>
  );
}

const SUMMARY_KEYS = ['apiMethod', 'apiEndpoint', 'url', 'startUrl', 'action', 'channel', 'recipient', 'to',
  'subject', 'message', 'reportType', 'format', 'period'];

/** The config in one line: the fields a reviewer decides on, a count for lists. */
function ConfigSummary(props: { task: Task }) {
  const config = (props.task.executionConfig ?? {}) as Record<string, unknown>;
  const parts: ReactNode[] = [];
  const keys = [...SUMMARY_KEYS.filter((k) => k in config), ...Object.keys(config).filter((k) => !SUMMARY_KEYS.includes(k))];
  for (const key of keys) {
    const value = config[key];
    if (value === null || value === undefined || value === '' || value === '********') continue;
    let text: string;
    if (Array.isArray(value)) text = `${value.length} item${value.length === 1 ? '' : 's'}`;
    else if (typeof value === 'object') text = `${Object.keys(value as object).length} fields`;
    else text = String(value);
    if (text.length > 80) text = `${text.slice(0, 79)}…`;
    parts.push(<span key={key}>{key} <code>{text}</code></span>);
    if (parts.length >= 5) break;
  }
  if (!parts.length) return null;
  return <p className="config-summary" aria-label="Config summary">{parts.reduce<ReactNode[]>((out, p, i) => (i ? [...out, ' · ', p] : [p]), [])}</p>;
}
