import { useEffect, useMemo, useState } from 'react';
import { Link, useLocation, useSearch } from 'wouter';
import type { Task, TaskList as TaskQuery, TaskStatus, TaskType } from '../errands';
import { useAction, useDebounced, useLoad } from '../hooks';
import { latest, STATUSES, TASK_TYPES, TYPE_LABELS } from '../labels';
import { useSession, useTaskEvents } from '../session';
import { allMatching, BULK_WORDS, BulkOutcome, runBulk } from '../components/Bulk';
import type { BulkKind, Outcome } from '../components/Bulk';
import { FailureGroups } from '../components/FailureGroups';
import {
  Alert, Confirm, Empty, humanizeTimes, PageHeader, Spinner, StalledBadge, StatusBadge, Tags, Time,
} from '../components/ui';

const PAGE = 50;

/** The filters, as they stand in the URL query (so that a reload or a shared link keeps them). */
interface Filters {
  status: TaskStatus | ''; type: TaskType | ''; q: string; stalled: boolean; group: string; dependsOn: string; parentId: string; client: string;
  /** tasks holding all of these */
  tags: string[]; assignee: string;
}

const splitTags = (text: string): string[] => text.split(',').map((t) => t.trim()).filter(Boolean);

function readFilters(search: string): Filters {
  const p = new URLSearchParams(search);
  const status = p.get('status') ?? '';
  const type = p.get('type') ?? '';
  return {
    status: (STATUSES as string[]).includes(status) ? status as TaskStatus : '',
    type: (TASK_TYPES as string[]).includes(type) ? type as TaskType : '',
    q: p.get('q') ?? '',
    stalled: p.get('stalled') === '1',
    group: p.get('group') ?? '',
    dependsOn: p.get('dependsOn') ?? '',
    parentId: p.get('parentId') ?? '',
    client: p.get('client') ?? '',
    tags: splitTags(p.get('tags') ?? ''),
    assignee: p.get('assignee') ?? '',
  };
}

function writeFilters(f: Filters): string {
  const p = new URLSearchParams();
  if (f.status) p.set('status', f.status);
  if (f.type) p.set('type', f.type);
  if (f.q) p.set('q', f.q);
  if (f.stalled) p.set('stalled', '1');
  if (f.group) p.set('group', f.group);
  if (f.dependsOn) p.set('dependsOn', f.dependsOn);
  if (f.parentId) p.set('parentId', f.parentId);
  if (f.client) p.set('client', f.client);
  if (f.tags.length) p.set('tags', f.tags.join(','));
  if (f.assignee) p.set('assignee', f.assignee);
  const s = p.toString();
  return s ? `?${s}` : '';
}

function toQuery(f: Filters): Omit<TaskQuery, 'cursor' | 'limit'> {
  return {
    status: f.status || null, taskType: f.type || null, search: f.q.trim() || null,
    stalled: f.stalled || null, errorGroup: f.group || null, dependsOn: f.dependsOn || null,
    parentId: f.parentId || null,
    clientId: f.client || null, tags: f.tags.length ? f.tags : null, assignee: f.assignee.trim() || null,
  };
}

export function TaskList() {
  const { client, can } = useSession();
  const search = useSearch();
  const [, navigate] = useLocation();
  const filters = useMemo(() => readFilters(search), [search]);
  const key = writeFilters(filters);
  const setFilters = (change: Partial<Filters>) =>
    navigate(`/tasks${writeFilters({ ...filters, ...change })}`, { replace: true });
  const [text, setText] = useState(filters.q);
  const clients = useLoad(() => client.clients.list.query({ limit: 200 }).catch(() => ({ items: [], nextCursor: null })), [client]);
  const [tagText, setTagText] = useState(filters.tags.join(', '));
  const [assignee, setAssignee] = useState(filters.assignee);
  useEffect(() => { setText(filters.q); }, [filters.q]);
  useEffect(() => { if (splitTags(tagText).join(',') !== filters.tags.join(',')) setTagText(filters.tags.join(', ')); },
  // eslint-disable-next-line react-hooks/exhaustive-deps
    [filters.tags.join(',')]);
  useEffect(() => { setAssignee(filters.assignee); }, [filters.assignee]);
  useEffect(() => {
    const change: Partial<Filters> = {};
    if (text !== filters.q) change.q = text;
    if (splitTags(tagText).join(',') !== filters.tags.join(',')) change.tags = splitTags(tagText);
    if (assignee !== filters.assignee) change.assignee = assignee;
    if (!Object.keys(change).length) return undefined;
    const t = window.setTimeout(() => setFilters(change), 300);
    return () => window.clearTimeout(t);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [text, tagText, assignee]);
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  useEffect(() => { setCursors([null]); }, [key]);
  const cursor = cursors[cursors.length - 1];
  const page = useLoad(async () => ({
    key, cursor,
    page: await client.tasks.list.query({ ...toQuery(filters), limit: PAGE, cursor }),
  }), [client, key, cursor]);
  // rows of an earlier filter are never shown under a new one
  const current = page.data && page.data.key === key && page.data.cursor === cursor ? page.data.page : undefined;
  const [rows, setRows] = useState<Task[]>([]);
  const [fresh, setFresh] = useState(0);
  useEffect(() => { setRows(current?.items ?? []); setFresh(0); }, [current]);
  useTaskEvents((event) => {
    if (event.type === 'created') { setFresh((n) => n + 1); return; }
    setRows((list) => list.map((row) => row.id === event.task.id ? latest(row, event.task) : row));
  });

  // selection: ticked rows, or every task matching the filter
  const [selected, setSelected] = useState<Map<string, string>>(new Map()); // id -> title
  const [matching, setMatching] = useState<{ key: string; count: number } | null>(null);
  useEffect(() => { setSelected(new Map()); setMatching(null); }, [key]);
  const selectAll = useAction();
  const toggle = (task: Task, on: boolean) => {
    setMatching(null);
    setSelected((s) => { const next = new Map(s); if (on) next.set(task.id, task.title); else next.delete(task.id); return next; });
  };
  const pageSelected = rows.length > 0 && rows.every((t) => selected.has(t.id));
  async function selectMatching() {
    const tasks = await selectAll.run(() => allMatching(client, toQuery(filters)));
    if (!tasks) return;
    setSelected(new Map(tasks.map((t) => [t.id, t.title])));
    setMatching({ key, count: tasks.length });
  }

  const [asking, setAsking] = useState<BulkKind | null>(null);
  const [note, setNote] = useState('');
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const bulk = useAction();
  async function runSelected(kind: BulkKind) {
    setAsking(null);
    const titles = new Map(selected);
    const results = await bulk.run(() => runBulk(client, kind, [...selected.keys()], note));
    if (!results) return;
    setOutcome({ kind, results, titles });
    setSelected(new Map());
    setMatching(null);
    setNote('');
    page.reload();
    groups.reload();
  }
  const showGroups = filters.status === 'failed' && !filters.group;
  const groups = useLoad(() => filters.status === 'failed' ? client.tasks.failureGroups.query() : Promise.resolve(undefined),
    [client, filters.status]);
  const refreshGroups = useDebounced(groups.reload, 2000);
  useTaskEvents((event) => { if (filters.status === 'failed' && event.type !== 'created') refreshGroups(); });
  const group = groups.data?.groups.find((g) => g.key === filters.group);
  const count = selected.size;
  const words = asking ? BULK_WORDS[asking] : null;
  return (
    <>
      <PageHeader title="Tasks" sub="Newest first; rows update live.">
        {can('create') ? <Link className="button primary" href="/new">New task</Link> : null}
      </PageHeader>
      <form className="filters" role="search" aria-label="Filter tasks" onSubmit={(e) => e.preventDefault()}>
        <label>Status
          <select value={filters.status} onChange={(e) => setFilters({ status: e.target.value as TaskStatus | '', group: '' })}>
            <option value="">any</option>
            {STATUSES.map((s) => <option key={s} value={s}>{s.replace(/_/g, ' ')}</option>)}
          </select>
        </label>
        <label>Type
          <select value={filters.type} onChange={(e) => setFilters({ type: e.target.value as TaskType | '' })}>
            <option value="">any</option>
            {TASK_TYPES.map((t) => <option key={t} value={t}>{TYPE_LABELS[t]}</option>)}
          </select>
        </label>
        <label>Client
          <select value={filters.client} onChange={(e) => setFilters({ client: e.target.value })}>
            <option value="">any</option>
            {clients.data?.items.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
            {filters.client && clients.data && !clients.data.items.some((c) => c.id === filters.client)
              ? <option value={filters.client}>{filters.client}</option> : null}
          </select>
        </label>
        <label>Tags
          <input value={tagText} placeholder="all of: a, b" onChange={(e) => setTagText(e.target.value)} />
        </label>
        <label>Assignee
          <input value={assignee} placeholder="a person" onChange={(e) => setAssignee(e.target.value)} />
        </label>
        <label className="check filter-check"><input type="checkbox" checked={filters.stalled}
          onChange={(e) => setFilters({ stalled: e.target.checked })} /> Stalled only</label>
        <label className="grow">Search
          <input type="search" value={text} placeholder="title or description"
            onChange={(e) => setText(e.target.value)} />
        </label>
      </form>
      {filters.group ? (
        <div className="filter-chip" data-filter="group">
          <span>Failing with {group ? <><strong>{group.errorType ?? 'error'}</strong> <code>{group.pattern || '(no message)'}</code></> : 'one error'}</span>
          <button type="button" className="link" onClick={() => setFilters({ group: '' })}>Clear</button>
        </div>
      ) : null}
      {filters.dependsOn ? (
        <div className="filter-chip" data-filter="dependsOn">
          <span>Depending on <Link href={`/tasks/${filters.dependsOn}`}><code>{filters.dependsOn}</code></Link></span>
          <button type="button" className="link" onClick={() => setFilters({ dependsOn: '' })}>Clear</button>
        </div>
      ) : null}
      {filters.parentId ? (
        <div className="filter-chip" data-filter="parentId">
          <span>Subtasks of <Link href={`/tasks/${filters.parentId}`}><code>{filters.parentId}</code></Link></span>
          <button type="button" className="link" onClick={() => setFilters({ parentId: '' })}>Clear</button>
        </div>
      ) : null}
      {showGroups ? (
        <details className="card" open>
          <summary><strong>Failures by error</strong>{groups.data ? ` (${groups.data.total} tasks, ${groups.data.groups.length} groups)` : ''}</summary>
          <FailureGroups groups={groups.data} error={groups.error} onChanged={() => { page.reload(); groups.reload(); }} />
        </details>
      ) : null}
      {page.error ? <Alert>{page.error}</Alert> : null}
      {outcome ? <BulkOutcome outcome={outcome} onDismiss={() => setOutcome(null)} /> : null}
      {bulk.error ? <Alert>{bulk.error}</Alert> : null}
      {selectAll.error ? <Alert>{selectAll.error}</Alert> : null}
      <div className="bulk-actions" aria-label="Selection">
        <span className="count" aria-live="polite">
          {matching && matching.key === key ? `All ${matching.count} matching selected` : `${count} selected`}
        </span>
        <button type="button" disabled={selectAll.busy || !current} onClick={() => void selectMatching()}>
          {selectAll.busy ? 'Selecting…' : 'Select all matching'}
        </button>
        {count ? <button type="button" className="link" onClick={() => { setSelected(new Map()); setMatching(null); }}>Clear selection</button> : null}
        {can('retry') ? <button type="button" disabled={!count || bulk.busy} onClick={() => setAsking('retry')}>Retry selected</button> : null}
        {can('cancel') ? <button type="button" className="danger" disabled={!count || bulk.busy} onClick={() => setAsking('cancel')}>Cancel selected</button> : null}
        {can('review') ? <button type="button" disabled={!count || bulk.busy} onClick={() => setAsking('approve')}>Approve selected</button> : null}
        {bulk.busy ? <Spinner /> : null}
      </div>
      {fresh > 0 && cursors.length === 1 ? (
        <button type="button" className="banner" onClick={page.reload}>
          {fresh} new task{fresh === 1 ? '' : 's'} — show
        </button>
      ) : null}
      <div className="table-wrap">
        <table className="table responsive">
          <thead>
            <tr>
              <th className="col-check"><input type="checkbox" aria-label="Select this page" checked={pageSelected}
                onChange={(e) => { setMatching(null); setSelected((s) => {
                  const next = new Map(s);
                  for (const t of rows) { if (e.target.checked) next.set(t.id, t.title); else next.delete(t.id); }
                  return next;
                }); }} /></th>
              <th>Title</th><th>Type</th><th>Status</th><th>Error</th><th>Priority</th><th>Created</th><th>Updated</th>
            </tr>
          </thead>
          <tbody>
            {current ? rows.map((task) => (
              <tr key={task.id} data-task-id={task.id} className={selected.has(task.id) ? 'selected' : undefined}>
                <td className="col-check"><input type="checkbox" aria-label={`Select ${task.title}`} checked={selected.has(task.id)}
                  onChange={(e) => toggle(task, e.target.checked)} /></td>
                <td><Link href={`/tasks/${task.id}`}>{task.title}</Link>
                  {task.statusReason ? <div className="muted small">{humanizeTimes(task.statusReason)}</div> : null}
                  {task.assignee ? <div className="muted small">with {task.assignee}</div> : null}
                  {task.tags.length ? <Tags tags={task.tags} /> : null}</td>
                <td data-label="Type">{TYPE_LABELS[task.taskType]}</td>
                <td data-label="Status"><StatusBadge status={task.status} /> <StalledBadge since={task.stalledSince} />
                  {task.status === 'in_progress' && task.progress
                    ? <div className="muted small task-progress">{progressText(task.progress)}</div> : null}</td>
                <td className="error-cell" {...(task.lastError && (task.status === 'failed' || task.errorCount > 0) ? { 'data-label': 'Error' } : {})}>
                  {task.lastError && (task.status === 'failed' || task.errorCount > 0)
                    ? <span className="task-error" title={task.lastError}>{task.lastError.length > 160 ? `${task.lastError.slice(0, 160)}…` : task.lastError}</span> : null}
                </td>
                <td data-label="Priority"><span className={`priority priority-${task.priority}`}>{task.priority}</span></td>
                <td data-label="Created"><Time at={task.createdAt} /></td>
                <td data-label="Updated"><Time at={task.updatedAt} /></td>
              </tr>
            )) : null}
          </tbody>
        </table>
        {!current && !page.error ? <div className="center"><Spinner /></div> : null}
        {current && rows.length === 0 ? <Empty>No tasks match.</Empty> : null}
      </div>
      <div className="pager">
        <button type="button" disabled={cursors.length === 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
          Newer
        </button>
        <span className="muted">Page {cursors.length}</span>
        <button type="button" disabled={!current?.nextCursor}
          onClick={() => { const next = current?.nextCursor; if (next) setCursors((c) => [...c, next]); }}>
          Older
        </button>
      </div>
      {asking && words ? (
        <Confirm title={`${words.verb} ${count} task${count === 1 ? '' : 's'}?`} danger={asking === 'cancel'}
          onCancel={() => setAsking(null)} onConfirm={() => void runSelected(asking)}>
          <p>{words.verb} the {count} selected task{count === 1 ? '' : 's'}{matching ? ' (all matching the filter)' : ''}. {words.what}</p>
          <p className="muted">Tasks that cannot be {words.done} now are left as they are, each with the server's reason.</p>
          {asking !== 'retry' ? (
            <label className="field">{asking === 'cancel' ? 'Reason (optional)' : 'Notes (optional)'}
              <input value={note} onChange={(e) => setNote(e.target.value)} />
            </label>
          ) : null}
        </Confirm>
      ) : null}
    </>
  );
}

/** A running task's progress in a list row: "step 3 of 7". */
function progressText(p: NonNullable<Task['progress']>): string {
  return p.done < p.total ? `step ${p.done + 1} of ${p.total}` : `${p.total} of ${p.total} steps done`;
}
