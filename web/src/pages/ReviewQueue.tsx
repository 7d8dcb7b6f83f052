import { useEffect, useState } from 'react';
import { Link } from 'wouter';
import type { Task } from '../errands';
import { useDebounced, useLoad } from '../hooks';
import { latest, TYPE_LABELS } from '../labels';
import { useSession, useTaskEvents } from '../session';
import { TaskActions } from '../components/TaskActions';
import { Ago, Alert, Empty, Json, PageHeader, Spinner, StatusBadge } from '../components/ui';

const MAX_PAGES = 10;

export function ReviewQueue() {
  const { client, can } = useSession();
  const queue = useLoad(async () => {
    const items: Task[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const got: { items: Task[]; nextCursor: string | null } =
        await client.tasks.list.query({ status: 'awaiting_review', limit: 200, cursor });
      items.push(...got.items);
      if (!got.nextCursor) break;
      cursor = got.nextCursor;
    }
    return items.reverse(); // oldest first
  }, [client]);
  const [waiting, setWaiting] = useState<Task[]>([]);
  const [decided, setDecided] = useState<Task[]>([]); // decided here, followed live
  useEffect(() => { if (queue.data) setWaiting(queue.data); }, [queue.data]);
  const reload = useDebounced(queue.reload, 500);
  useTaskEvents((event) => {
    setDecided((list) => list.map((t) => t.id === event.task.id ? latest(t, event.task) : t));
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
        sub={`Tasks awaiting review, oldest first.${can('review') ? '' : ' Your role may look but not decide.'}`} />
      {queue.error ? <Alert>{queue.error}</Alert> : null}
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
      {queue.loading && !queue.data ? <div className="center"><Spinner /></div> : null}
      {queue.data && waiting.length === 0 ? <Empty>Nothing is waiting for review.</Empty> : null}
      <ol className="review-list">
        {waiting.map((task) => (
          <li key={task.id} className="card review-item" data-task-id={task.id}>
            <div className="review-head">
              <h2><Link href={`/tasks/${task.id}`}>{task.title}</Link></h2>
              <span className="muted">{TYPE_LABELS[task.taskType]} · {task.priority} priority · waiting since <Ago at={task.createdAt} /></span>
            </div>
            {task.description ? <p>{task.description}</p> : null}
            <details>
              <summary>Execution config</summary>
              <Json value={task.executionConfig} label="Execution config" />
            </details>
            <TaskActions task={task} onDone={done} />
          </li>
        ))}
      </ol>
    </>
  );
}
