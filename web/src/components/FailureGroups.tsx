// Failed tasks grouped by error (tasks.failureGroups): the type and message pattern with the
// count the server gives; "Show" lists a group, "Retry all" retries it after one confirmation.
import { useState } from 'react';
import { Link } from 'wouter';
import type { FailureGroup, FailureGroups as Groups } from '../errands';
import { useAction } from '../hooks';
import { useSession } from '../session';
import { allMatching, BulkOutcome, runBulk } from './Bulk';
import type { Outcome } from './Bulk';
import { Alert, Confirm, Empty } from './ui';

export function FailureGroups(props: { groups: Groups | undefined; error: string | null; onChanged: () => void; limit?: number }) {
  const { client, can } = useSession();
  const [asking, setAsking] = useState<FailureGroup | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const action = useAction();
  const groups = props.groups?.groups ?? [];
  const shown = props.limit ? groups.slice(0, props.limit) : groups;
  async function retry(group: FailureGroup) {
    setAsking(null);
    await action.run(async () => {
      const tasks = await allMatching(client, { errorGroup: group.key });
      const results = tasks.length ? await runBulk(client, 'retry', tasks.map((t) => t.id)) : [];
      setOutcome({ kind: 'retry', results, titles: new Map(tasks.map((t) => [t.id, t.title])) });
    });
    props.onChanged();
  }
  return (
    <div className="failure-groups">
      {props.error ? <Alert>{props.error}</Alert> : null}
      {action.error ? <Alert>{action.error}</Alert> : null}
      {outcome ? <BulkOutcome outcome={outcome} onDismiss={() => setOutcome(null)} /> : null}
      {props.groups && groups.length === 0 ? <Empty>No failed tasks.</Empty> : null}
      <ul className="groups" aria-label="Failures by error">
        {shown.map((g) => (
          <li key={g.key} className="group" data-group={g.key}>
            <span className="group-count" aria-label={`${g.count} failed`}>{g.count}</span>
            <span className="group-text">
              {g.errorType ? <strong>{g.errorType}</strong> : <strong>error</strong>}{' '}
              <code title={g.example ?? undefined}>{g.pattern || '(no message)'}</code>
            </span>
            <span className="group-actions">
              <Link className="button" href={`/tasks?status=failed&group=${g.key}`} aria-label={`Show the ${g.count} tasks failing with ${g.pattern || 'no message'}`}>Show</Link>
              {can('retry') ? (
                <button type="button" disabled={action.busy} onClick={() => setAsking(g)}
                  aria-label={`Retry all ${g.count} failing with ${g.pattern || 'no message'}`}>Retry all</button>
              ) : null}
            </span>
          </li>
        ))}
      </ul>
      {props.limit && groups.length > props.limit ? (
        <p className="hint"><Link href="/tasks?status=failed">All {groups.length} groups in the task list</Link></p>
      ) : null}
      {asking ? (
        <Confirm title={`Retry ${asking.count} failed task${asking.count === 1 ? '' : 's'}?`}
          onCancel={() => setAsking(null)} onConfirm={() => void retry(asking)}>
          <p>Retry every failed task whose last error is {asking.errorType ? <strong>{asking.errorType}</strong> : null}{' '}
            <code>{asking.pattern || '(no message)'}</code>: {asking.count} task{asking.count === 1 ? '' : 's'} start again.</p>
        </Confirm>
      ) : null}
    </div>
  );
}
