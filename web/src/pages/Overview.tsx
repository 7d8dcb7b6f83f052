import { useMemo } from 'react';
import { Link } from 'wouter';
import type { Task } from '../errands';
import { useDebounced, useLoad } from '../hooks';
import { STATUSES, TYPE_LABELS } from '../labels';
import { useSession, useTaskEvents } from '../session';
import { BarChart } from '../components/BarChart';
import { AutorunPanel } from '../components/Autorun';
import { Alert, Ago, Empty, PageHeader, StatusBadge } from '../components/ui';

const HOUR = 3_600_000;
const MAX_PAGES = 5; // up to 1,000 tasks for the 24-hour chart

export function Overview() {
  const { client } = useSession();
  const stats = useLoad(() => client.system.stats.query(), [client]);
  const recent = useLoad(() => recentTasks(), [client]);
  const failures = useLoad(() => client.tasks.list.query({ status: 'failed', limit: 5 }), [client]);
  const stalled = useLoad(() => client.tasks.list.query({ stalled: true, limit: 20 }), [client]);
  // counts at most every second; the chart (up to 1,000 tasks) at most every 15 s
  const refreshCounts = useDebounced(() => { stats.reload(); failures.reload(); stalled.reload(); }, 1000);
  const refreshChart = useDebounced(recent.reload, 15_000);
  useTaskEvents(() => { refreshCounts(); refreshChart(); });

  async function recentTasks(): Promise<{ tasks: Task[]; complete: boolean }> {
    const since = Date.now() - 24 * HOUR;
    const tasks: Task[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const got: { items: Task[]; nextCursor: string | null } =
        await client.tasks.list.query({ limit: 200, cursor });
      for (const task of got.items) {
        if (new Date(task.createdAt).getTime() < since) return { tasks, complete: true };
        tasks.push(task);
      }
      if (!got.nextCursor) return { tasks, complete: true };
      cursor = got.nextCursor;
    }
    return { tasks, complete: false };
  }

  const chart = useMemo(() => {
    const now = Date.now();
    const start = Math.floor(now / HOUR) * HOUR - 23 * HOUR;
    const labels = Array.from({ length: 24 }, (_, i) =>
      `${String(new Date(start + i * HOUR).getHours()).padStart(2, '0')}:00`);
    const attempts = new Array<number>(24).fill(0);
    const failed = new Array<number>(24).fill(0);
    for (const task of recent.data?.tasks ?? []) {
      const i = Math.floor((new Date(task.createdAt).getTime() - start) / HOUR);
      if (i < 0 || i > 23) continue;
      // attempts that ended: each error is one failed attempt, a completion one successful one
      const failures = task.errorCount;
      attempts[i] += failures + (task.status === 'completed' ? 1 : 0);
      failed[i] += failures;
    }
    return { labels, series: [
      { label: 'Attempts', values: attempts, color: '#9db4f0' },
      { label: 'Failed attempts', values: failed, color: '#d9534f' },
    ] };
  }, [recent.data]);

  const counts = stats.data?.tasksByStatus ?? {};
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return (
    <>
      <PageHeader title="Overview" sub="Live: counts update as tasks change." />
      {stats.error ? <Alert>{stats.error}</Alert> : null}
      <section className="cards" aria-label="Tasks by status">
        <div className="stat stat-total">
          <div className="stat-label">All tasks</div>
          <div className="stat-value">{stats.data ? total : '—'}</div>
        </div>
        {STATUSES.map((status) => (
          <Link key={status} href={`/tasks?status=${status}`} className={`stat stat-${status}`}
            aria-label={`${status.replace(/_/g, ' ')}: ${counts[status] ?? 0}`}>
            <div className="stat-label"><StatusBadge status={status} /></div>
            <div className="stat-value" data-status={status}>{stats.data ? counts[status] ?? 0 : '—'}</div>
          </Link>
        ))}
      </section>
      <div className="grid-2">
        <section className="card">
          <h2>Attempts and failures, last 24 hours</h2>
          <BarChart title="Attempts and failed attempts per hour" labels={chart.labels} series={chart.series} every={3} />
          <p className="hint">
            By the hour each task was created: ended attempts of the {recent.data?.tasks.length ?? 0} tasks
            created in the last 24 hours{recent.data && !recent.data.complete ? ' (the newest 1,000 only)' : ''}.
            Since start: {stats.data?.executed ?? 0} attempts, {stats.data?.succeeded ?? 0} succeeded,
            {' '}{stats.data?.failed ?? 0} failed, {stats.data?.running ?? 0} running now.
          </p>
        </section>
        <section className="card">
          <h2>Latest failures</h2>
          {failures.data && failures.data.items.length === 0 ? <Empty>No failed tasks.</Empty> : null}
          <ul className="plain-list">
            {(failures.data?.items ?? []).map((task) => (
              <li key={task.id}>
                <Link href={`/tasks/${task.id}`}>{task.title}</Link>
                <span className="muted"> · {TYPE_LABELS[task.taskType]} · <Ago at={task.updatedAt} /></span>
                <div className="error-line">{task.lastError}</div>
              </li>
            ))}
          </ul>
        </section>
      </div>
      <div className="grid-2">
        <section className="card" aria-label="Stalled tasks">
          <h2>Stalled tasks</h2>
          <p className="hint">Waiting longer than their limit (pending, awaiting review, queued, or overdue).</p>
          {stalled.error ? <Alert>{stalled.error}</Alert> : null}
          {stalled.data && stalled.data.items.length === 0 ? <Empty>Nothing is stalled.</Empty> : null}
          <ul className="plain-list">
            {(stalled.data?.items ?? []).map((task) => (
              <li key={task.id} data-task-id={task.id}>
                <Link href={`/tasks/${task.id}`}>{task.title}</Link>{' '}
                <StatusBadge status={task.status} />
                <span className="muted"> · {TYPE_LABELS[task.taskType]} · stalled <Ago at={task.stalledSince} /></span>
              </li>
            ))}
          </ul>
          {stalled.data?.nextCursor ? <p className="hint"><Link href="/tasks?stalled=1">All stalled tasks</Link></p> : null}
        </section>
        <AutorunPanel />
      </div>
    </>
  );
}
