import { useEffect, useState } from 'react';
import { Link, useSearch } from 'wouter';
import type { Task, TaskStatus, TaskType } from '../errands';
import { useLoad } from '../hooks';
import { latest, STATUSES, TASK_TYPES, TYPE_LABELS } from '../labels';
import { useSession, useTaskEvents } from '../session';
import { Ago, Alert, Empty, PageHeader, Spinner, StalledBadge, StatusBadge } from '../components/ui';

const PAGE = 50;

export function TaskList() {
  const { client, can } = useSession();
  const params = new URLSearchParams(useSearch());
  const [status, setStatus] = useState<TaskStatus | ''>((params.get('status') as TaskStatus | null) ?? '');
  const [taskType, setTaskType] = useState<TaskType | ''>('');
  const [stalled, setStalled] = useState(params.get('stalled') === '1');
  const [text, setText] = useState('');
  const [search, setSearch] = useState('');
  const [cursors, setCursors] = useState<(string | null)[]>([null]); // the pages seen so far
  const cursor = cursors[cursors.length - 1];
  const page = useLoad(() => client.tasks.list.query({
    status: status || null, taskType: taskType || null, search: search || null, limit: PAGE, cursor,
    stalled: stalled || null,
  }), [client, status, taskType, search, cursor, stalled]);
  const [rows, setRows] = useState<Task[]>([]);
  const [fresh, setFresh] = useState(0);
  useEffect(() => { if (page.data) { setRows(page.data.items); setFresh(0); } }, [page.data]);
  useEffect(() => { setCursors([null]); }, [status, taskType, search, stalled]);
  useEffect(() => {
    const t = window.setTimeout(() => setSearch(text.trim()), 300);
    return () => window.clearTimeout(t);
  }, [text]);
  useTaskEvents((event) => {
    if (event.type === 'created') { setFresh((n) => n + 1); return; }
    setRows((current) => current.map((row) => row.id === event.task.id ? latest(row, event.task) : row));
  });
  return (
    <>
      <PageHeader title="Tasks" sub="Newest first; rows update live.">
        {can('create') ? <Link className="button primary" href="/new">New task</Link> : null}
      </PageHeader>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>Status
          <select value={status} onChange={(e) => setStatus(e.target.value as TaskStatus | '')}>
            <option value="">any</option>
            {STATUSES.map((s) => <option key={s} value={s}>{s.replace(/_/g, ' ')}</option>)}
          </select>
        </label>
        <label>Type
          <select value={taskType} onChange={(e) => setTaskType(e.target.value as TaskType | '')}>
            <option value="">any</option>
            {TASK_TYPES.map((t) => <option key={t} value={t}>{TYPE_LABELS[t]}</option>)}
          </select>
        </label>
        <label className="check filter-check"><input type="checkbox" checked={stalled}
          onChange={(e) => setStalled(e.target.checked)} /> Stalled only</label>
        <label className="grow">Search
          <input type="search" value={text} placeholder="title or description"
            onChange={(e) => setText(e.target.value)} />
        </label>
      </form>
      {page.error ? <Alert>{page.error}</Alert> : null}
      {fresh > 0 && cursors.length === 1 ? (
        <button type="button" className="banner" onClick={page.reload}>
          {fresh} new task{fresh === 1 ? '' : 's'} — show
        </button>
      ) : null}
      <div className="table-wrap">
        <table className="table">
          <thead>
            <tr><th>Title</th><th>Type</th><th>Status</th><th>Priority</th><th>Attempts failed</th><th>Created</th><th>Updated</th></tr>
          </thead>
          <tbody>
            {rows.map((task) => (
              <tr key={task.id} data-task-id={task.id}>
                <td><Link href={`/tasks/${task.id}`}>{task.title}</Link>
                  {task.statusReason ? <div className="muted small">{task.statusReason}</div> : null}</td>
                <td>{TYPE_LABELS[task.taskType]}</td>
                <td><StatusBadge status={task.status} /> <StalledBadge since={task.stalledSince} /></td>
                <td><span className={`priority priority-${task.priority}`}>{task.priority}</span></td>
                <td className="num">{task.errorCount}</td>
                <td><Ago at={task.createdAt} /></td>
                <td><Ago at={task.updatedAt} /></td>
              </tr>
            ))}
          </tbody>
        </table>
        {page.loading && rows.length === 0 ? <div className="center"><Spinner /></div> : null}
        {!page.loading && rows.length === 0 ? <Empty>No tasks match.</Empty> : null}
      </div>
      <div className="pager">
        <button type="button" disabled={cursors.length === 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
          Newer
        </button>
        <span className="muted">Page {cursors.length}</span>
        <button type="button" disabled={!page.data?.nextCursor}
          onClick={() => { const next = page.data?.nextCursor; if (next) setCursors((c) => [...c, next]); }}>
          Older
        </button>
      </div>
    </>
  );
}
