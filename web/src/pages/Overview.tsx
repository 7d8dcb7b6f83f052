import { useMemo } from 'react';
import { Link } from 'wouter';
import { useDebounced, useLoad } from '../hooks';
import { STATUSES, TYPE_LABELS } from '../labels';
import { useSession, useTaskEvents } from '../session';
import { BarChart } from '../components/BarChart';
import { AutorunPanel } from '../components/Autorun';
import { FailureGroups } from '../components/FailureGroups';
import { Alert, Ago, Empty, PageHeader, StatusBadge } from '../components/ui';


export function Overview() {
  const { client } = useSession();
  const stats = useLoad(() => client.system.stats.query(), [client]);
  const series = useLoad(() => client.system.series.query(), [client]);
  const groups = useLoad(() => client.tasks.failureGroups.query(), [client]);
  const stalled = useLoad(() => client.tasks.list.query({ stalled: true, limit: 20 }), [client]);
  // counts at most every second; the chart and the groups at most every 5 s
  const refreshCounts = useDebounced(() => { stats.reload(); stalled.reload(); }, 1000);
  const refreshChart = useDebounced(() => { series.reload(); groups.reload(); }, 5000);
  useTaskEvents(() => { refreshCounts(); refreshChart(); });

  const chart = useMemo(() => {
    const hours = series.data?.hours ?? [];
    const labels = hours.map((h) => `${String(new Date(h.start).getHours()).padStart(2, '0')}:00`);
    const ended = (a: Record<string, number>) => Object.entries(a).filter(([s]) => s !== 'running').reduce((n, [, v]) => n + v, 0);
    const failedOf = (a: Record<string, number>) => Object.entries(a).filter(([s]) => s !== 'running' && s !== 'success').reduce((n, [, v]) => n + v, 0);
    return {
      labels,
      series: [
        { label: 'Attempts', values: hours.map((h) => ended(h.attempts)), color: '#7f9be6' },
        { label: 'Failed attempts', values: hours.map((h) => failedOf(h.attempts)), color: '#d9534f' },
      ],
      created: hours.reduce((n, h) => n + h.created, 0),
      attempts: hours.reduce((n, h) => n + ended(h.attempts), 0),
      failed: hours.reduce((n, h) => n + failedOf(h.attempts), 0),
    };
  }, [series.data]);

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
          <Link key={status} href={`/tasks?status=${status}`} className={`stat stat-${status}`}>
            <div className="stat-label"><StatusBadge status={status} /></div>
            <div className="stat-value" data-status={status}>{stats.data ? counts[status] ?? 0 : '—'}</div>
          </Link>
        ))}
      </section>
      <div className="grid-2">
        <section className="card" aria-labelledby="chart-title">
          <h2 id="chart-title">Attempts and failures, last 24 hours</h2>
          {series.error ? <Alert>{series.error}</Alert> : null}
          <BarChart title="Attempts and failed attempts per hour" labels={chart.labels} series={chart.series} every={3} />
          <p className="hint">
            By the hour each attempt started (the server counts them): {chart.attempts} attempts ended,
            {' '}{chart.failed} failed; {chart.created} tasks created. Since start: {stats.data?.executed ?? 0} attempts,
            {' '}{stats.data?.running ?? 0} running now.
          </p>
        </section>
        <section className="card" aria-labelledby="groups-title">
          <h2 id="groups-title">Failures by error{groups.data ? ` (${groups.data.total})` : ''}</h2>
          <FailureGroups groups={groups.data} error={groups.error} limit={6}
            onChanged={() => { groups.reload(); stats.reload(); }} />
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
