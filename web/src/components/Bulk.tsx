// Bulk recovery: every task matching a filter, the bulk procedures in chunks of 500 (the
// servers' limit per call), and the per-task outcome.
import { Link } from 'wouter';
import type { Client } from '../api';
import type { BulkItem, Task, TaskList } from '../errands';
import { StatusBadge } from './ui';

export type BulkKind = 'retry' | 'cancel' | 'approve';
export const CHUNK = 500;
const MAX_MATCHING = 20_000;

export const BULK_WORDS: Record<BulkKind, { verb: string; done: string; notDone: string; what: string }> = {
  retry: { verb: 'Retry', done: 'retried', notDone: 'not retried', what: 'Each failed task is queued for a new attempt.' },
  cancel: { verb: 'Cancel', done: 'cancelled', notDone: 'not cancelled', what: 'Open tasks stop; a running attempt is stopped.' },
  approve: { verb: 'Approve', done: 'approved', notDone: 'not approved', what: 'Tasks awaiting review go on to run.' },
};

/** Every task the filter lists (all pages; at most 20,000). */
export async function allMatching(client: Client, query: Omit<TaskList, 'cursor' | 'limit'>): Promise<Task[]> {
  const out: Task[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: Task[]; nextCursor: string | null } =
      await client.tasks.list.query({ ...query, limit: 200, cursor });
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor && out.length < MAX_MATCHING);
  return out;
}

/** retryMany / cancelMany / approveMany over any number of ids, 500 per call. */
export async function runBulk(client: Client, kind: BulkKind, ids: string[],
  note?: string): Promise<BulkItem[]> {
  const results: BulkItem[] = [];
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    const answer = kind === 'retry' ? await client.tasks.retryMany.mutate({ ids: chunk })
      : kind === 'cancel' ? await client.tasks.cancelMany.mutate({ ids: chunk, reason: note || null })
        : await client.tasks.approveMany.mutate({ ids: chunk, notes: note || null });
    results.push(...answer.results);
  }
  return results;
}

export interface Outcome { kind: BulkKind; results: BulkItem[]; titles: Map<string, string> }

/** What happened to each task of a bulk action. */
export function BulkOutcome(props: { outcome: Outcome; onDismiss: () => void }) {
  const { kind, results, titles } = props.outcome;
  const words = BULK_WORDS[kind];
  const ok = results.filter((r) => r.ok).length;
  const refused = results.filter((r) => !r.ok);
  return (
    <section className="card" aria-label="Bulk action results" aria-live="polite">
      <div className="section-head">
        <h2>{words.verb}: {ok} of {results.length} {words.done}</h2>
        <button type="button" className="link" onClick={props.onDismiss}>Dismiss</button>
      </div>
      {refused.length ? <p className="muted">{refused.length} {words.notDone}; the server said why:</p> : null}
      <div className="table-wrap">
        <table className="table compact responsive">
          <thead><tr><th>Task</th><th>Outcome</th><th>Detail</th></tr></thead>
          <tbody>
            {[...refused, ...results.filter((r) => r.ok)].slice(0, 200).map((item) => (
              <tr key={item.id} data-task-id={item.id} className={item.ok ? 'result-ok' : 'result-failed'}>
                <td><Link href={`/tasks/${item.id}`}>{titles.get(item.id) ?? item.id}</Link></td>
                <td data-label="Outcome">{item.ok ? <span className="ok-mark">{words.done}</span> : <span className="fail-mark">{words.notDone}</span>}</td>
                <td data-label="Detail">{item.ok ? (item.task ? <StatusBadge status={item.task.status} /> : null)
                  : <span className="error-line"><code>{item.error?.code}</code> {item.error?.message}</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {results.length > 200 ? <p className="hint">The first 200 shown (those not {words.done} first).</p> : null}
    </section>
  );
}
